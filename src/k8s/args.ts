/** Command-line parsing for `umdev-k8s` (util.parseArgs); no side effects, so it is tested as a table. */
import { parseArgs } from 'node:util';
import { err } from '../errors.js';
import { LOG_LEVELS, logLevelOption, type LogLevel } from '../log.js';

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'run';
      readonly configFile?: string;
      readonly api?: string;
      readonly stateDir?: string;
      readonly kubeletDir?: string;
      readonly devicePlugin?: boolean;
      readonly dra?: boolean;
      readonly driver?: string;
      readonly nodeName?: string;
      readonly kubeconfig?: string;
      readonly cdiDir?: string;
      readonly dryRun: boolean;
      readonly logLevel?: LogLevel;
      readonly logJson: boolean;
    };

export const USAGE = `Usage: umdev-k8s [options]

Hands umdev's mediated devices to Kubernetes on this node, as a client of umdevd's control API: a kubelet device
plugin (v1beta1) per mdev type, resource umdev.io/<parent>-<type>, and with --dra a DRA kubelet plugin (v1) that
prepares ResourceClaims and publishes this node's ResourceSlice. A container gets each device's vfio-user socket
mounted at /var/run/umdev/<uuid>.sock. Prints "umdev-k8s ready" on stdout once serving; SIGINT/SIGTERM stop it.

Options:
  -c, --config FILE       JSON config file (resources, kubeletDir, releaseGraceMs, dra, ...)
      --api SOCKET|URL    umdevd's API (default: from STATE_DIR/api.json)
  -s, --state-dir DIR     umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd
                          holds it, else /var/lib/umdev)
      --kubelet-dir DIR   the kubelet's root directory (default /var/lib/kubelet)
      --no-device-plugin  do not serve the device plugin API
      --dra               serve the DRA kubelet plugin
      --driver NAME       DRA driver name (default umdev.io)
      --node-name NAME    this node (default $NODE_NAME, else the host name)
      --kubeconfig FILE   a JSON kubeconfig, or "in-cluster" (default $KUBECONFIG): read claims, publish slices
      --cdi-dir DIR       where CDI specs are written (default /var/run/cdi)
      --dry-run           print this node's ResourceSlices (a JSON List) and exit
      --log-level LEVEL   ${LOG_LEVELS.join('|')} (default info)
      --log-json          log JSON lines instead of text (stderr)
  -h, --help              show this help
  -V, --version           show the version
`;

export function parseCommandLine(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        api: { type: 'string' },
        'state-dir': { type: 'string', short: 's' },
        'kubelet-dir': { type: 'string' },
        'no-device-plugin': { type: 'boolean' },
        dra: { type: 'boolean' },
        driver: { type: 'string' },
        'node-name': { type: 'string' },
        kubeconfig: { type: 'string' },
        'cdi-dir': { type: 'string' },
        'dry-run': { type: 'boolean' },
        'log-level': { type: 'string' },
        'log-json': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    throw err('EINVAL', (e as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return { kind: 'help' };
  if (v.version === true) return { kind: 'version' };
  const level = logLevelOption(v['log-level']);
  for (const k of ['config', 'api', 'state-dir', 'kubelet-dir', 'driver', 'node-name', 'kubeconfig', 'cdi-dir'] as const) {
    if (v[k] === '') throw err('EINVAL', `--${k} must not be empty`);
  }
  return {
    kind: 'run',
    ...(v.config === undefined ? {} : { configFile: v.config }),
    ...(v.api === undefined ? {} : { api: v.api }),
    ...(v['state-dir'] === undefined ? {} : { stateDir: v['state-dir'] }),
    ...(v['kubelet-dir'] === undefined ? {} : { kubeletDir: v['kubelet-dir'] }),
    ...(v['no-device-plugin'] === true ? { devicePlugin: false } : {}),
    ...(v.dra === true ? { dra: true } : {}),
    ...(v.driver === undefined ? {} : { driver: v.driver }),
    ...(v['node-name'] === undefined ? {} : { nodeName: v['node-name'] }),
    ...(v.kubeconfig === undefined ? {} : { kubeconfig: v.kubeconfig }),
    ...(v['cdi-dir'] === undefined ? {} : { cdiDir: v['cdi-dir'] }),
    dryRun: v['dry-run'] === true,
    ...(level === undefined ? {} : { logLevel: level }),
    logJson: v['log-json'] === true,
  };
}
