# shellcheck shell=bash
# Sourced by the project's commands: installs the Debian packages they miss.
#
#   parley_install PACKAGE...   as root with apt-get: install them (one apt-get update first);
#                               otherwise print the one apt-get line that would, and exit 1.
#
# Callers find out what is missing themselves (by the commands and files they need) and call
# parley_install once with the whole list, so that a user who is not root gets one line.

parley_say() { printf '%s\n' "$*" >&2; }

parley_install() {
  (($#)) || return 0
  if ((EUID == 0)) && command -v apt-get >/dev/null; then
    parley_say "installing $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get (a second command of the project, an unattended upgrade) may hold the
    # lock for a while: wait for it rather than fail.
    local wait=(-o DPkg::Lock::Timeout=300)
    if [[ -z ${parley_apt_updated:-} ]]; then
      apt-get "${wait[@]}" update -qq >/dev/null
      parley_apt_updated=1
    fi
    apt-get "${wait[@]}" install -y -qq "$@" >/dev/null
  else
    parley_say "missing: $*. Install them with (Debian or Ubuntu):"
    parley_say "  sudo apt-get install $*"
    parley_say "then run this command again (or run it as root, and it installs them itself)."
    exit 1
  fi
}
