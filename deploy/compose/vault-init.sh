#!/bin/sh
# The vault's bucket and the counter's own S3 user, once (idempotent).
# The counter's user may read, list and create objects, and delete only its
# readiness probes (probe/…): a stolen counter credential cannot erase the
# vault. (Overwriting needs a plain PUT, which the counter never sends;
# turn on bucket versioning on real storage to keep even that recoverable.)
set -eu
mc alias set vault http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "vault/$VAULT_BUCKET"
cat > /tmp/madoguchi-counter.json <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
     "Resource": ["arn:aws:s3:::$VAULT_BUCKET"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": ["arn:aws:s3:::$VAULT_BUCKET/*"]},
    {"Effect": "Allow", "Action": ["s3:DeleteObject"],
     "Resource": ["arn:aws:s3:::$VAULT_BUCKET/probe/*"]}
  ]
}
POLICY
mc admin user add vault "$VAULT_ACCESS_KEY" "$VAULT_SECRET_KEY"
mc admin policy create vault madoguchi-counter /tmp/madoguchi-counter.json
mc admin policy attach vault madoguchi-counter --user "$VAULT_ACCESS_KEY" \
    || echo "(policy already attached)"
echo "vault bucket $VAULT_BUCKET ready for $VAULT_ACCESS_KEY"
