# Sourced by the bin/ shell scripts: `build_path NAME REL` prints the built file REL (under dist/) for program NAME,
# or says why it cannot be run: missing (run ./setup), or out of this user's reach (a checkout in a home other users
# cannot enter), which no amount of ./setup would fix.
build_path() {
  main=$(dirname "$here")/dist/$2
  if [ -r "$main" ]; then
    echo "$main"
    return 0
  fi
  # The deepest part of the path that this user can see; a part that exists but cannot be entered is the cause.
  dir=$(dirname "$main")
  while [ "$dir" != / ] && [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  if [ -e "$main" ] || [ ! -x "$dir" ] || [ ! -r "$dir" ]; then
    blocked=$dir
    [ -e "$main" ] && blocked=$main
    echo "$1: cannot read $main: permission denied on $blocked for uid $(id -u); run it as a user who can read the checkout, or install umdev where everyone can" >&2
  else
    echo "$1: $main is missing: run ./setup (or npm run build) in $(dirname "$here")" >&2
  fi
  return 1
}
