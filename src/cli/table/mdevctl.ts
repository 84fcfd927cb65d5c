/**
 * The commands mdevctl 1.2.0 has. Their help texts are mdevctl's (`mdevctl CMD --help`) with the program name
 * swapped, so a person who knows one tool reads the other's help unchanged (test/cli/usage.test.ts compares them
 * with the real mdevctl); their checks word clap's errors as mdevctl's do.
 */
import { bool, conflicts, required, str, u32, uuidOpt } from '../invocation.js';
import { UsageError } from '../usage.js';
import type { CommandDecl, OptionDecl } from './types.js';

const UUID = (help: string): OptionDecl => ({ long: 'uuid', short: 'u', value: '<UUID>', help });
const PARENT = (help: string): OptionDecl => ({ long: 'parent', short: 'p', value: '<PARENT>', help });
const TYPE = (help: string): OptionDecl => ({ long: 'type', short: 't', value: '<type>', help });

export const MDEVCTL_COMMANDS: readonly CommandDecl[] = [
  {
    name: 'types',
    about: 'List available mediated device types',
    long: `List available mediated device types

Specifying a 'parent' lists only the types provided by the given parent device. The 'dumpjson'
option provides output in machine readable JSON format.`,
    usage: 'types [OPTIONS]',
    options: [PARENT('Show supported types for the specified parent'), { long: 'dumpjson', help: 'Output mdev types list in JSON format' }],
    needs: 'tree',
    man: String.raw`\fBtypes\fR [\fB\-p\fR \fIPARENT\fR] [\fB\-\-dumpjson\fR]
List available mediated device types.`,
    run: async ({ inv: { v }, ctx }) => (await import('../types.js')).typesCommand(ctx, { parent: str(v, 'parent'), dumpjson: bool(v, 'dumpjson') }),
  },
  {
    name: 'list',
    about: 'List mediated devices',
    long: `List mediated devices

With no options, information about the currently running mediated devices is provided. Specifying
'defined' lists the configuration of defined devices, regardless of their running state. This may be
further reduced by specifying specific 'uuid' or 'parent' devices to list. The 'dumpjson' option
provides output listing in machine readable JSON format. When a 'uuid' option is provided and the
result is a single device, the output contains only the JSON fields necessary to recreate a config
file for the device (minus attributes for listings of running devices). When the verbose option is
provided, the human readable listing will include attributes for the device(s).`,
    usage: 'list [OPTIONS]',
    version: true,
    options: [
      UUID('List devices matching the specified UUID'),
      PARENT('List devices associated with the specified Parent device'),
      { long: 'defined', short: 'd', help: 'Show defined devices' },
      { long: 'dumpjson', help: 'Output device list in json format' },
      { long: 'verbose', short: 'v', help: 'Print additional information about the devices' },
    ],
    needs: 'tree',
    man: String.raw`\fBlist\fR [\fB\-d\fR] [\fB\-v\fR] [\fB\-u\fR \fIUUID\fR] [\fB\-p\fR \fIPARENT\fR] [\fB\-\-dumpjson\fR]
List active mediated devices, or with \fB\-d\fR the defined ones.`,
    run: async ({ inv: { v }, ctx }) =>
      (await import('../list.js')).listCommand(ctx, { defined: bool(v, 'defined'), dumpjson: bool(v, 'dumpjson'), verbose: bool(v, 'verbose'), uuid: uuidOpt(v), parent: str(v, 'parent') }),
  },
  {
    name: 'define',
    about: 'Define a persistent mediated device',
    long: `Define a persistent mediated device

If the device specified by the UUID currently exists, 'parent' and 'type' may be omitted to use the
existing values. The 'auto' option marks the device to start on parent availability.  If defined via
'jsonfile', then 'type', 'startup', and any attributes are provided via the file.

Running devices are unaffected by this command.`,
    usage: 'define [OPTIONS]',
    options: [
      UUID('Assign UUID to the device'),
      PARENT('Specify the parent of the device'),
      TYPE('Specify the mdev type of the device'),
      { long: 'auto', short: 'a', help: 'Automatically start device on parent availability' },
      // Accepted (so that it conflicts with --auto, as mdevctl's does) but not listed, as mdevctl lists it not.
      { long: 'manual', short: 'm' },
      { long: 'jsonfile', value: '<JSONFILE>', help: 'Specify device details in JSON format' },
    ],
    needs: 'tree',
    man: String.raw`\fBdefine\fR [\fB\-u\fR \fIUUID\fR] [\fB\-p\fR \fIPARENT\fR] [\fB\-t\fR \fITYPE\fR] [\fB\-\-auto\fR] [\fB\-\-jsonfile\fR \fIFILE\fR]
Define a persistent mediated device.`,
    run: async ({ inv, ctx }) => {
      const { v } = inv;
      conflicts(inv, [['jsonfile', 'type'], ['jsonfile', 'auto'], ['auto', 'manual']]);
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(inv, ['--uuid <UUID>', '--parent <PARENT>'], { group: ['uuid', 'parent'] });
      return (await import('../define.js')).defineCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), jsonfile: str(v, 'jsonfile') });
    },
  },
  {
    name: 'undefine',
    about: 'Undefine a persistent mediated device',
    long: `Undefine, or remove a config for an mdev device

If a UUID exists for multiple parents, all will be removed unless a parent is
                specified.

Running devices are unaffected by this command.`,
    usage: 'undefine [OPTIONS] --uuid <UUID>',
    options: [UUID('UUID of the device to be undefined'), PARENT('Parent of the device to be undefined')],
    required: ['uuid'],
    needs: 'tree',
    man: String.raw`\fBundefine\fR \fB\-u\fR \fIUUID\fR [\fB\-p\fR \fIPARENT\fR]
Remove a definition.`,
    run: async ({ inv, ctx }) => {
      if (str(inv.v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('../undefine.js')).undefineCommand(ctx, { uuid: uuidOpt(inv.v) ?? '', parent: str(inv.v, 'parent') });
    },
  },
  {
    name: 'modify',
    about: 'Modify the definition of a mediated device',
    long: `Modify the definition of a mediated device

The 'parent' option further identifies a UUID if it is not unique. The parent for a device cannot be
modified via this command; undefine and re-define should be used instead. An attribute can be added
or removed, which correlates to a sysfs attribute under the created device. Unless an 'index' value
is provided, operations are performed at the end of the attribute list. 'value' is to be specified
in the format that is accepted by the attribute. Upon device start, umdevctl will go through each
attribute in order, writing the value into the corresponding sysfs attribute for the device. The
startup mode of the device can also be selected, auto or manual.

Running devices are unaffected by this command.`,
    usage: 'modify [OPTIONS] --uuid <UUID>',
    options: [
      UUID('UUID of the mdev to modify'),
      PARENT('Parent of the mdev to modify'),
      TYPE('Modify the mdev type for this device'),
      { long: 'auto', short: 'a', help: 'Device will be started automatically' },
      { long: 'manual', short: 'm', help: 'Device must be started manually' },
      { long: 'addattr', value: '<attr_name>', help: 'add a new attribute' },
      { long: 'value', value: '<attr_value>', help: 'Value for the attribute specified by --addattr' },
      { long: 'delattr', help: 'Delete an attribute' },
      { long: 'index', short: 'i', value: '<INDEX>', help: 'Index of the attribute to modify' },
    ],
    required: ['uuid'],
    needs: 'tree',
    man: String.raw`\fBmodify\fR \fB\-u\fR \fIUUID\fR [\fB\-p\fR \fIP\fR] [\fB\-t\fR \fIT\fR] [\fB\-\-auto\fR|\fB\-\-manual\fR] [\fB\-\-addattr\fR \fIA\fR \fB\-\-value\fR \fIV\fR [\fB\-i\fR \fIN\fR]] [\fB\-\-delattr\fR [\fB\-i\fR \fIN\fR]]
Modify a definition. Running devices are unaffected.`,
    run: async ({ inv, ctx }) => {
      const { v } = inv;
      conflicts(inv, [['auto', 'manual']]);
      if (str(v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      if (str(v, 'addattr') !== undefined && str(v, 'value') === undefined) required(inv, ['--value <attr_value>'], { extra: ['value'] });
      return (await import('../modify.js')).modifyCommand(ctx, {
        uuid: uuidOpt(v) ?? '', parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), manual: bool(v, 'manual'),
        addattr: str(v, 'addattr'), value: str(v, 'value'), delattr: bool(v, 'delattr'), index: u32(v, 'index', '--index <INDEX>'),
      });
    },
  },
  {
    name: 'start',
    about: 'Start a mediated device',
    long: `Start a mediated device

If the UUID is previously defined and unique, the UUID is sufficient to start the device (UUIDs may
not collide between running devices). If a UUID is used in multiple defined configurations, the
'parent' is necessary to identify the device to be started.  When specified with 'parent' and
'type', the device is fully specified and will be started based only on these parameters.  The UUID
is optional in this case. If not provided, a UUID is generated and returned as output. A 'jsonfile'
may replace the 'type' specification and also include additional attributes to be applied to the
started device.`,
    usage: 'start [OPTIONS]',
    options: [
      UUID('UUID of the device to start'),
      PARENT('Parent of the device to start'),
      TYPE('Mdev type of the device to start'),
      { long: 'jsonfile', value: '<JSONFILE>', help: 'Details of the device to be started, in JSON format' },
    ],
    needs: 'tree',
    man: String.raw`\fBstart\fR [\fB\-u\fR \fIUUID\fR] [\fB\-p\fR \fIPARENT\fR] [\fB\-t\fR \fITYPE\fR] [\fB\-\-jsonfile\fR \fIFILE\fR]
Create a device, then write its attributes in order.`,
    run: async ({ inv, ctx }) => {
      const { v } = inv;
      conflicts(inv, [['jsonfile', 'type']]);
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(inv, ['--uuid <UUID>', '--parent <PARENT>'], { group: ['uuid', 'parent'] });
      return (await import('../start.js')).startCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), jsonfile: str(v, 'jsonfile') });
    },
  },
  {
    name: 'stop',
    about: 'Stop a mediated device',
    usage: 'stop --uuid <UUID>',
    options: [UUID('UUID of the device to stop')],
    required: ['uuid'],
    needs: 'tree',
    man: String.raw`\fBstop\fR \fB\-u\fR \fIUUID\fR
Remove a device.`,
    run: async ({ inv, ctx }) => {
      if (str(inv.v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('../stop.js')).stopCommand(ctx, { uuid: uuidOpt(inv.v) ?? '' });
    },
  },
  {
    name: 'start-parent-mdevs',
    about: 'Start the auto-start devices of one parent',
    // Hidden in mdevctl (what its udev rule runs), so its help has no text.
    long: '',
    usage: 'start-parent-mdevs <PARENT>',
    options: [],
    args: [{ name: '<PARENT>', help: '', complete: 'parent' }],
    needs: 'tree',
    man: String.raw`\fBstart\-parent\-mdevs\fR \fIPARENT\fR
Start every "auto" definition of one parent.`,
    run: async ({ inv, ctx }) => {
      if (inv.positionals.length !== 1) throw new UsageError('The following required arguments were not provided:\n    <PARENT>', `${inv.program} start-parent-mdevs <PARENT>`);
      return (await import('../start-parent-mdevs.js')).startParentMdevsCommand(ctx, { parent: inv.positionals[0] });
    },
  },
];
