#!/bin/sh
# Regenerates test/fixtures/tokens/ with the real ssh-keygen: throwaway keys of every type that
# needs no hardware authenticator, and boxd0 tokens signed by them through boxd-token.sh.
# sk-* (FIDO) signatures are built in the tests instead (test/auth/helpers.ts).
#
#   sh scripts/make-token-fixtures.sh
#
# Outputs (all committed; the private keys are test-only and guard nothing):
#   <key>, <key>.pub                  key pairs: ed25519 rsa ecdsa256 ecdsa384 ecdsa521
#   <key>.token                       PAYLOAD signed for v0@boxd.localhost (default hash, sha512)
#   <key>.sha256.token                same, hash sha256
#   <key>.ns-git.token                same payload signed for namespace "git"
#   <key>.ns-file.token               ... for "file"
#   <key>.ns-machine.token            ... for the machine namespace v0@web.boxd.localhost
#   payload.json                      PAYLOAD, byte for byte
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=$here/../test/fixtures/tokens
. "$here/boxd-token.sh"

PAYLOAD='{"cmds":["ls","port open"],"machines":["web-*","db"],"ctx":{"ticket":"T-1","nested":[1,{"a":null}]},"nbf":946684800,"exp":4102444800}'

# boxdtoken's pipeline, for an arbitrary namespace and extra ssh-keygen options.
sign_for() { # namespace key [ssh-keygen -Y sign options...]
  ns=$1 key=$2
  shift 2
  s=$(printf '%s' "$PAYLOAD" | ssh-keygen -q -Y sign -n "$ns" -f "$key" "$@" | sed '/^-----/d' | base64 -d | _boxdtoken_b64url)
  printf 'boxd0.%s.%s\n' "$(printf '%s' "$PAYLOAD" | _boxdtoken_b64url)" "$s"
}

rm -rf "$out"
mkdir -p "$out"
printf '%s' "$PAYLOAD" >"$out/payload.json"

for spec in ed25519:ed25519: rsa:rsa:3072 ecdsa256:ecdsa:256 ecdsa384:ecdsa:384 ecdsa521:ecdsa:521; do
  name=${spec%%:*} rest=${spec#*:}
  type=${rest%%:*} bits=${rest#*:}
  ssh-keygen -q -t "$type" ${bits:+-b "$bits"} -N '' -C "boxd-fixture-$name" -f "$out/$name"
  boxdtoken "$PAYLOAD" "$out/$name" boxd.localhost >"$out/$name.token"
  sign_for v0@boxd.localhost "$out/$name" -O hashalg=sha256 >"$out/$name.sha256.token"
  sign_for git "$out/$name" >"$out/$name.ns-git.token"
  sign_for file "$out/$name" >"$out/$name.ns-file.token"
  boxdtoken "$PAYLOAD" "$out/$name" web.boxd.localhost >"$out/$name.ns-machine.token"
done
echo "wrote $(ls "$out" | wc -l) files to test/fixtures/tokens/"
