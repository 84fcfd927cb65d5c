/**
 * `completions/umdevctl.bash`, rendered from the command table: the commands, each command's options, what each
 * option's value completes to (from its value name: devices, parents, types, files, or nothing) and what each
 * positional argument completes to. test/cli/docs.test.ts checks that the file is exactly this (`UMDEV_REGEN=1`
 * rewrites it) and runs it in a real bash.
 */
import { COMMANDS, GLOBAL_OPTIONS, type ArgKind, type OptionDecl } from './table/index.js';

type ValueKind = 'uuid' | 'parent' | 'type' | 'file' | 'none';

/** What an option's value completes to, from the name clap shows for it. */
function valueKind(o: OptionDecl): ValueKind {
  switch (o.value) {
    case '<UUID>':
      return 'uuid';
    case '<PARENT>':
      return 'parent';
    case '<type>':
      return 'type';
    case '<DIR>':
    case '<FILE>':
    case '<JSONFILE>':
      return 'file';
    default:
      return 'none';
  }
}

/** `-u | --uuid`: the words that name an option. */
function words(o: OptionDecl): string[] {
  return [...(o.short === undefined ? [] : [`-${o.short}`]), `--${o.long}`];
}

/** The option words taking a value, by what the value completes to, over every command (first kind seen wins). */
function valueWords(): Map<ValueKind, string[]> {
  const kinds = new Map<string, ValueKind>();
  for (const o of [...GLOBAL_OPTIONS, ...COMMANDS.flatMap((c) => c.options)]) {
    if (o.value === undefined) continue;
    for (const w of words(o)) if (!kinds.has(w)) kinds.set(w, valueKind(o));
  }
  const out = new Map<ValueKind, string[]>();
  for (const [w, k] of kinds) out.set(k, [...(out.get(k) ?? []), w]);
  return out;
}

const PREV: Readonly<Record<ValueKind, string>> = {
  file: 'COMPREPLY=($(compgen -f -- "$cur")); return ;;',
  parent: 'COMPREPLY=($(compgen -W "$(ls "$sys/class/mdev_bus" 2>/dev/null)" -- "$cur")); return ;;',
  type: `local p types=""
      for ((i = 1; i < COMP_CWORD; i++)); do [[ \${COMP_WORDS[i]} == -p || \${COMP_WORDS[i]} == --parent ]] && p=\${COMP_WORDS[i + 1]}; done
      if [[ -n $p ]]; then types=$(ls "$sys/class/mdev_bus/$p/mdev_supported_types" 2>/dev/null)
      else types=$(ls "$sys"/class/mdev_bus/*/mdev_supported_types 2>/dev/null | grep -v ':$'); fi
      COMPREPLY=($(compgen -W "$types" -- "$cur")); return ;;`,
  uuid: 'COMPREPLY=($(compgen -W "$uuids" -- "$cur")); return ;;',
  none: 'return ;;',
};

/** The bash completion script for umdevctl and lsmdev. */
export function bashCompletion(): string {
  const globalValued = GLOBAL_OPTIONS.filter((o) => o.value !== undefined).flatMap(words);
  const byKind = valueWords();
  const prev = (['file', 'parent', 'type', 'uuid', 'none'] as const)
    .filter((k) => byKind.has(k))
    .map((k) => `    ${byKind.get(k)!.join(' | ')})\n      ${PREV[k]}`)
    .join('\n');
  const perCommand = COMMANDS.map((c) => {
    const opts = c.options.filter((o) => o.help !== undefined).map((o) => `--${o.long}`);
    const valued = c.options.filter((o) => o.value !== undefined).flatMap(words);
    const args = (c.args ?? []).map((a) => `${a.complete satisfies ArgKind}${a.name.endsWith('...') ? '...' : ''}`);
    return `    ${c.name}) opts="${opts.join(' ')}" valued="${valued.join(' ')}" args="${args.join(' ')}" ;;`;
  }).join('\n');
  return `# bash completion for umdevctl and lsmdev, rendered from umdevctl's command table (src/cli/completion.ts). Source
# it (\`. completions/umdevctl.bash\`), or install it as /usr/share/bash-completion/completions/umdevctl (and a link
# named lsmdev). Parents, types and UUIDs come from the sysfs and definitions roots given on the line (--sysfs-root,
# --config-root) or their defaults, as umdevctl reads them.

_umdevctl_root() { # $1: option name, $2: default; the value given earlier on the line wins
  local i
  for ((i = 1; i < \${#COMP_WORDS[@]} - 1; i++)); do
    [[ \${COMP_WORDS[i]} == "--$1" ]] && { printf '%s' "\${COMP_WORDS[i + 1]}"; return; }
  done
  printf '%s' "$2"
}

_umdevctl() {
  local cur prev cmd i
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD - 1]}
  local sys cfg
  sys=$(_umdevctl_root sysfs-root "\${UMDEV_SYSFS_ROOT:-/sys}")
  cfg=$(_umdevctl_root config-root "\${UMDEV_CONFIG_ROOT:-/etc/mdevctl.d}")
  # A umdevd state dir (given, UMDEV_STATE, or a live ./umdev-state when the host has no mdev parents) has both.
  local state
  state=$(_umdevctl_root state-dir "\${UMDEV_STATE:-}")
  [[ -z $state && ! -d $sys/class/mdev_bus && -d umdev-state/sys/class/mdev_bus ]] && state=umdev-state
  if [[ -n $state ]]; then sys=$state/sys cfg=$state/mdevctl.d; fi
  # The devices, for commands that take UUIDs as arguments.
  local uuids
  uuids=$(ls "$sys/bus/mdev/devices" 2>/dev/null; ls "$cfg"/*/ 2>/dev/null | grep -E '^[0-9a-f-]{36}$')
  local commands="${COMMANDS.map((c) => c.name).join(' ')} help"
  local global="${GLOBAL_OPTIONS.map((o) => `--${o.long}`).join(' ')} --help --version"
  if [[ \${COMP_WORDS[0]##*/} == lsmdev ]]; then
    cmd=list
  else
    for ((i = 1; i < COMP_CWORD; i++)); do
      case \${COMP_WORDS[i]} in
        ${globalValued.join(' | ')}) ((i++)) ;;
        -*) ;;
        *) cmd=\${COMP_WORDS[i]}; break ;;
      esac
    done
  fi
  case $prev in
${prev}
  esac
  # The command's options, the ones of them that take a value, and what its positional arguments complete to (a
  # kind ending in ... takes the rest).
  local opts valued args
  case $cmd in
    "") COMPREPLY=($(compgen -W "$commands $global" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
${perCommand}
  esac
  if [[ -n $args && $cur != -* ]]; then
    local n=0 kinds=($args) kind
    for ((i = i + 1; i < COMP_CWORD; i++)); do
      [[ \${COMP_WORDS[i]} == -* || " $valued ${globalValued.join(' ')} " == *" \${COMP_WORDS[i - 1]} "* ]] || ((n++))
    done
    kind=\${kinds[n]:-}
    [[ -z $kind && \${kinds[-1]} == *... ]] && kind=\${kinds[-1]}
    case \${kind%...} in
      uuid) COMPREPLY=($(compgen -W "$uuids" -- "$cur")) ;;
      parent) COMPREPLY=($(compgen -W "$(ls "$sys/class/mdev_bus" 2>/dev/null)" -- "$cur")) ;;
      file) COMPREPLY=($(compgen -f -- "$cur")) ;;
      command) COMPREPLY=($(compgen -c -- "$cur")) ;;
    esac
    return
  fi
  COMPREPLY=($(compgen -W "$opts --help $global" -- "$cur"))
}
complete -F _umdevctl umdevctl lsmdev
`;
}
