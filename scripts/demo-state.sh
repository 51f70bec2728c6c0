# Sourced by scripts/demo.sh and scripts/demo-libvirt.sh: the demos keep their state where root's
# runs do, /var/lib/sendense (the shipped plans' repository, root's default state database).
# Made 0700 when the demo makes it (as the state folder always is: docs/threat-model.md). Where the
# Debian package's service user owns it, what the demo made there as root is handed to that user
# when the demo ends, so the service never meets a state database it may only read.
# (SENDENSE_DEMO_STATE: another folder, for the demo's test, whose plan copies point there.)

demo_state="${SENDENSE_DEMO_STATE:-/var/lib/sendense}"

demo_state_prepare() {
  [ -d "$demo_state" ] || install -d -m 0700 "$demo_state"
}

demo_state_hand_back() {
  local owner
  owner="$(stat -c %U:%G "$demo_state" 2>/dev/null)" || return 0
  [ "$(stat -c %u "$demo_state")" != 0 ] || return 0
  [ -n "$(find "$demo_state" -user 0 -print -quit)" ] || return 0
  chown -R --from=0 "$owner" "$demo_state"
  echo "demo: $demo_state is $owner's (the service's): what the demo made there as root is $owner's now"
}
