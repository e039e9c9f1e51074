# shellcheck shell=bash
# Sourced by the project's commands: where cargo puts what it builds.
#
#   parley_target_dir ROOT   $CARGO_TARGET_DIR (made absolute against ROOT), else ROOT/target

parley_target_dir() {
  local dir=${CARGO_TARGET_DIR:-target}
  [[ $dir == /* ]] || dir=$1/$dir
  echo "$dir"
}
