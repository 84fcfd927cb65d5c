# bash completion for umdevctl and lsmdev, rendered from umdevctl's command table (src/cli/completion.ts). Source
# it (`. completions/umdevctl.bash`), or install it as /usr/share/bash-completion/completions/umdevctl (and a link
# named lsmdev). Parents, types and UUIDs come from the sysfs and definitions roots given on the line (--sysfs-root,
# --config-root) or their defaults, as umdevctl reads them.

_umdevctl_root() { # $1: option name, $2: default; the value given earlier on the line wins
  local i
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    [[ ${COMP_WORDS[i]} == "--$1" ]] && { printf '%s' "${COMP_WORDS[i + 1]}"; return; }
  done
  printf '%s' "$2"
}

_umdevctl() {
  local cur prev cmd i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  local sys cfg
  sys=$(_umdevctl_root sysfs-root "${UMDEV_SYSFS_ROOT:-/sys}")
  cfg=$(_umdevctl_root config-root "${UMDEV_CONFIG_ROOT:-/etc/mdevctl.d}")
  # A umdevd state dir (given, UMDEV_STATE, or a live ./umdev-state when the host has no mdev parents) has both.
  local state
  state=$(_umdevctl_root state-dir "${UMDEV_STATE:-}")
  [[ -z $state && ! -d $sys/class/mdev_bus && -d umdev-state/sys/class/mdev_bus ]] && state=umdev-state
  if [[ -n $state ]]; then sys=$state/sys cfg=$state/mdevctl.d; fi
  # The devices, for commands that take UUIDs as arguments.
  local uuids
  uuids=$(ls "$sys/bus/mdev/devices" 2>/dev/null; ls "$cfg"/*/ 2>/dev/null | grep -E '^[0-9a-f-]{36}$')
  local commands="types list define undefine modify start stop start-parent-mdevs online offline reset events screenshot dashboard migrate exec shell qemu-args vm where help"
  local global="--config-root --json --state-dir --sysfs-root --help --version"
  if [[ ${COMP_WORDS[0]##*/} == lsmdev ]]; then
    cmd=list
  else
    for ((i = 1; i < COMP_CWORD; i++)); do
      case ${COMP_WORDS[i]} in
        --config-root | --state-dir | --sysfs-root) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
      esac
    done
  fi
  case $prev in
    --config-root | --state-dir | --sysfs-root | --jsonfile | --to-token-file)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -p | --parent)
      COMPREPLY=($(compgen -W "$(ls "$sys/class/mdev_bus" 2>/dev/null)" -- "$cur")); return ;;
    -t | --type)
      local p types=""
      for ((i = 1; i < COMP_CWORD; i++)); do [[ ${COMP_WORDS[i]} == -p || ${COMP_WORDS[i]} == --parent ]] && p=${COMP_WORDS[i + 1]}; done
      if [[ -n $p ]]; then types=$(ls "$sys/class/mdev_bus/$p/mdev_supported_types" 2>/dev/null)
      else types=$(ls "$sys"/class/mdev_bus/*/mdev_supported_types 2>/dev/null | grep -v ':$'); fi
      COMPREPLY=($(compgen -W "$types" -- "$cur")); return ;;
    -u | --uuid)
      COMPREPLY=($(compgen -W "$uuids" -- "$cur")); return ;;
    --addattr | --value | -i | --index | --api | -n | --count | --listen | --peer | --to | --max-bandwidth | -m | --memory)
      return ;;
  esac
  # The command's options, the ones of them that take a value, and what its positional arguments complete to (a
  # kind ending in ... takes the rest).
  local opts valued args
  case $cmd in
    "") COMPREPLY=($(compgen -W "$commands $global" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    types) opts="--parent --dumpjson" valued="-p --parent" args="" ;;
    list) opts="--uuid --parent --defined --dumpjson --verbose" valued="-u --uuid -p --parent" args="" ;;
    define) opts="--uuid --parent --type --auto --jsonfile" valued="-u --uuid -p --parent -t --type --jsonfile" args="" ;;
    undefine) opts="--uuid --parent" valued="-u --uuid -p --parent" args="" ;;
    modify) opts="--uuid --parent --type --auto --manual --addattr --value --delattr --index" valued="-u --uuid -p --parent -t --type --addattr --value -i --index" args="" ;;
    start) opts="--uuid --parent --type --jsonfile" valued="-u --uuid -p --parent -t --type --jsonfile" args="" ;;
    stop) opts="--uuid" valued="-u --uuid" args="" ;;
    start-parent-mdevs) opts="" valued="" args="parent" ;;
    online) opts="--uuid --api --state-dir" valued="-u --uuid --api --state-dir" args="" ;;
    offline) opts="--uuid --api --state-dir" valued="-u --uuid --api --state-dir" args="" ;;
    reset) opts="--uuid" valued="-u --uuid" args="" ;;
    events) opts="--api --state-dir --count" valued="--api --state-dir -n --count" args="" ;;
    screenshot) opts="--uuid --api --state-dir" valued="-u --uuid --api --state-dir" args="uuid file" ;;
    dashboard) opts="--api --state-dir --listen --open --peer" valued="--api --state-dir --listen --peer" args="" ;;
    migrate) opts="--uuid --to --to-token-file --max-bandwidth --force --api --state-dir" valued="-u --uuid --to --to-token-file --max-bandwidth --api --state-dir" args="uuid" ;;
    exec) opts="--state-dir" valued="--state-dir" args="command..." ;;
    shell) opts="--state-dir" valued="--state-dir" args="" ;;
    qemu-args) opts="--uuid --state-dir --memory" valued="-u --uuid --state-dir -m --memory" args="uuid..." ;;
    vm) opts="--state-dir --memory --console" valued="--state-dir -m --memory" args="uuid..." ;;
    where) opts="--state-dir" valued="--state-dir" args="" ;;
  esac
  if [[ -n $args && $cur != -* ]]; then
    local n=0 kinds=($args) kind
    for ((i = i + 1; i < COMP_CWORD; i++)); do
      [[ ${COMP_WORDS[i]} == -* || " $valued --config-root --state-dir --sysfs-root " == *" ${COMP_WORDS[i - 1]} "* ]] || ((n++))
    done
    kind=${kinds[n]:-}
    [[ -z $kind && ${kinds[-1]} == *... ]] && kind=${kinds[-1]}
    case ${kind%...} in
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
