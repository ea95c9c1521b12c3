#!/bin/sh
# boxdtoken [permissions_json] [ssh_key_path] [domain]
#
# Prints a boxd0 API token: the permission JSON, signed with your SSH key by `ssh-keygen -Y sign`
# for the namespace v0@<domain>. Nothing is sent anywhere; the server checks the signature
# against the keys registered to your account.
#
#   . scripts/boxd-token.sh
#   curl -H "Authorization: Bearer $(boxdtoken '{"cmds":["ls"]}')" ...
#   sh scripts/boxd-token.sh '{"cmds":["ls"],"exp":1900000000}' ~/.ssh/id_ed25519
#
# Defaults: permissions '{}', the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa, and the domain
# ${BOXD_DOMAIN:-boxd.localhost}. For a machine token pass "<machine>.<domain>" as the domain.

# Standard base64 on stdin to unpadded base64url on stdout (RFC 4648 §5), one line.
_boxdtoken_b64url() {
  base64 | tr -d '\n=' | tr '+/' '-_'
}

boxdtoken() {
  _boxdtoken_p=${1-}
  [ -n "$_boxdtoken_p" ] || _boxdtoken_p='{}'
  _boxdtoken_key=${2-}
  if [ -z "$_boxdtoken_key" ]; then
    for _boxdtoken_k in "$HOME/.ssh/id_ed25519" "$HOME/.ssh/id_ecdsa" "$HOME/.ssh/id_rsa"; do
      if [ -f "$_boxdtoken_k" ]; then _boxdtoken_key=$_boxdtoken_k; break; fi
    done
  fi
  if [ -z "$_boxdtoken_key" ]; then
    echo "boxdtoken: no SSH key found (looked for ~/.ssh/id_ed25519, id_ecdsa, id_rsa); pass its path as the second argument" >&2
    return 1
  fi
  _boxdtoken_domain=${3:-${BOXD_DOMAIN:-boxd.localhost}}
  # The payload is signed exactly as given (printf '%s' adds no newline): the server verifies
  # these bytes, so they must not change between here and the token.
  _boxdtoken_armored=$(printf '%s' "$_boxdtoken_p" | ssh-keygen -q -Y sign -n "v0@$_boxdtoken_domain" -f "$_boxdtoken_key") || return 1
  _boxdtoken_s=$(printf '%s\n' "$_boxdtoken_armored" | sed '/^-----/d' | base64 -d | _boxdtoken_b64url) || return 1
  printf 'boxd0.%s.%s\n' "$(printf '%s' "$_boxdtoken_p" | _boxdtoken_b64url)" "$_boxdtoken_s"
}

# Run as a script (not sourced): sign with the given arguments. zsh sets $0 to the file even when
# sourcing, so its eval context tells the two apart there.
case ${ZSH_EVAL_CONTEXT-}:${0##*/} in
  *:file:*) ;;
  *:boxd-token.sh) boxdtoken "$@" ;;
esac
