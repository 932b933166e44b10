#!/usr/bin/env bash
# Generates the RSA key pair the server signs access tokens with, with the deployment guide's
# openssl commands, into DIR/private.pem and DIR/public.pem.
#   hack/gen-jwt-keys.sh DIR
# Idempotent: an existing private key is kept (replacing it would invalidate every issued token);
# public.pem is (re)derived from it when missing or not matching.
set -euo pipefail

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
private=$dir/private.pem
public=$dir/public.pem

if [[ -s $private ]]; then
  openssl rsa -in "$private" -check -noout >/dev/null 2>&1 || { echo "$private is not a valid RSA private key" >&2; exit 1; }
  echo "keeping $private"
else
  # Written under a temporary name so an interrupted run leaves no half-written key behind.
  (umask 077 && openssl genrsa -out "$private.tmp" 2048 2>/dev/null)
  mv "$private.tmp" "$private"
  echo "wrote $private"
fi

derived=$(openssl rsa -in "$private" -pubout 2>/dev/null)
if [[ -s $public ]] && [[ $(cat "$public") == "$derived" ]]; then
  echo "keeping $public"
else
  openssl rsa -in "$private" -pubout -out "$public.tmp" 2>/dev/null
  chmod 644 "$public.tmp"
  mv "$public.tmp" "$public"
  echo "wrote $public"
fi
