#!/bin/sh
# The counter's own secrets, once, before any counter node starts: every
# node must use the same three files (docs/operations.md, "Keys"). A node
# would create a missing one on its first start, and two nodes starting
# together would create two different ones.
#   token.key   draft and session tokens, TOTP secrets (sealed), challenges
#   notify.key  residents' e-mail addresses (sealed)
#   ledger.key  signs ledger checkpoints
# Each is 32 random bytes, exactly what `madoguchi serve` would write.
set -eu
umask 077
cd /etc/madoguchi/keys
for key in token notify ledger; do
    if [ ! -s "$key.key" ]; then
        head -c 32 /dev/urandom > "$key.key.new"
        mv "$key.key.new" "$key.key"
        echo "created $key.key"
    else
        echo "kept $key.key"
    fi
done
