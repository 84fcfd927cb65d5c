# bash completion for umdevctl and lsmdev. Source it (`. completions/umdevctl.bash`), or install it as
# /usr/share/bash-completion/completions/umdevctl (and a link named lsmdev). Parents, types and UUIDs come from the
# sysfs and definitions roots given on the line (--sysfs-root, --config-root) or their defaults, as umdevctl reads them.

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
  local commands="types list define undefine modify start stop start-parent-mdevs online offline reset events screenshot migrate dashboard exec shell qemu-args vm help"
  local global="--sysfs-root --config-root --state-dir --json --help --version"
  if [[ ${COMP_WORDS[0]##*/} == lsmdev ]]; then
    cmd=list
  else
    for ((i = 1; i < COMP_CWORD; i++)); do
      case ${COMP_WORDS[i]} in
        --sysfs-root | --config-root | --state-dir) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
      esac
    done
  fi
  case $prev in
    --sysfs-root | --config-root | --state-dir | --jsonfile)
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
    --api | --addattr | --value | -i | --index | -n | --count | --to | -m | --memory | --max-bandwidth) return ;;
    --to-token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local opts
  case $cmd in
    "") COMPREPLY=($(compgen -W "$commands $global" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    types) opts="--parent --dumpjson" ;;
    list) opts="--defined --dumpjson --verbose --uuid --parent" ;;
    define) opts="--uuid --parent --type --auto --jsonfile" ;;
    undefine) opts="--uuid --parent" ;;
    modify) opts="--uuid --parent --type --auto --manual --addattr --value --delattr --index" ;;
    start) opts="--uuid --parent --type --jsonfile" ;;
    stop | reset) opts="--uuid" ;;
    start-parent-mdevs) COMPREPLY=($(compgen -W "$(ls "$sys/class/mdev_bus" 2>/dev/null)" -- "$cur")); return ;;
    online | offline) opts="--uuid --api --state-dir" ;;
    events) opts="--api --state-dir --count" ;;
    screenshot | migrate | qemu-args | vm)
      case $cmd in
        screenshot) opts="--uuid --api --state-dir" ;;
        migrate) opts="--uuid --to --to-token-file --force --max-bandwidth --api --state-dir" ;;
        qemu-args) opts="--uuid --memory --state-dir" ;;
        vm) opts="--console --memory --state-dir" ;;
      esac
      # Their UUIDs are positional: offer the devices too (screenshot's second word is a file).
      if [[ $cmd == screenshot ]]; then
        local n=0
        for ((i = i + 1; i < COMP_CWORD; i++)); do [[ ${COMP_WORDS[i]} != -* && ${COMP_WORDS[i - 1]} != --* ]] && ((n++)); done
        if ((n >= 1)); then COMPREPLY=($(compgen -f -- "$cur")); return; fi
      fi
      [[ $cur != -* ]] && { COMPREPLY=($(compgen -W "$uuids" -- "$cur")); return; }
      ;;
    dashboard) opts="--api --state-dir --listen --open --peer" ;;
    exec) COMPREPLY=($(compgen -c -- "$cur")); [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--state-dir --" -- "$cur")); return ;;
    shell) opts="--state-dir" ;;
  esac
  COMPREPLY=($(compgen -W "$opts --help $global" -- "$cur"))
}
complete -F _umdevctl umdevctl lsmdev
