# The `quakes` table, the same schema as `quakestream table create` (workloads/store/src/lib.rs
# Store::create_table, names in workloads/store/src/item.rs `attr`):
#   - base table: hash key `unid` (S): one item per event, conditional upserts on `lastupdate`;
#   - GSI keyed by the UTC day of origin (S, YYYY-MM-DD) with the origin time as sort key (S), so a
#     time window is a few Query calls, never a Scan;
#   - TTL on `expires_at` (epoch seconds), which the store sets only when it runs with a retention;
#     items without it never expire.
# eks/tests/test_terraform.py checks these names against the store code.
#
# On-demand billing (a few hundred writes a day), point-in-time recovery, and a global-table
# replica in var.replica_region. QuakeStream writes only to the primary region: conditional
# "newest lastupdate wins" writes are only atomic within one region (global tables resolve
# cross-region conflicts by last writer), so the consumer's role cannot write anywhere else.

locals {
  table = {
    hash_key       = "unid"
    gsi_name       = "by_day"
    gsi_hash_key   = "day"
    gsi_range_key  = "time"
    gsi_projection = "INCLUDE"
    # Non-key attributes projected into by_day: what a map needs, not the revision history
    # (workloads/store/src/item.rs attr::BY_DAY_PROJECTION, same order).
    gsi_non_key_attributes = [
      "lastupdate", "lat", "lon", "depth_km", "mag", "magtype", "region", "agency", "evtype", "source",
    ]
    ttl_attribute = "expires_at"
  }
}

resource "aws_dynamodb_table" "quakes" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = local.table.hash_key

  # Only key attributes are declared; everything else in an item is schemaless.
  attribute {
    name = local.table.hash_key
    type = "S"
  }

  attribute {
    name = local.table.gsi_hash_key
    type = "S"
  }

  attribute {
    name = local.table.gsi_range_key
    type = "S"
  }

  global_secondary_index {
    name               = local.table.gsi_name
    hash_key           = local.table.gsi_hash_key
    range_key          = local.table.gsi_range_key
    projection_type    = local.table.gsi_projection
    non_key_attributes = local.table.gsi_non_key_attributes
  }

  ttl {
    attribute_name = local.table.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  # No server_side_encryption block: encrypted at rest with the AWS owned key, so the workloads
  # need no KMS permissions (a customer managed key would need kms:Decrypt/GenerateDataKey grants
  # and a key per replica region).

  # Global tables (version 2019.11.21) replicate through the table's stream.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  dynamic "replica" {
    for_each = var.replica_region == "" ? [] : [var.replica_region]
    content {
      region_name            = replica.value
      point_in_time_recovery = true
      propagate_tags         = true
    }
  }

  deletion_protection_enabled = var.table_deletion_protection

  tags = {
    Name = var.table_name
  }
}

locals {
  table_arn = aws_dynamodb_table.quakes.arn
  # Same table in the replica region (ARN differs only by region). Read-only for QuakeStream.
  replica_table_arns = [
    for r in aws_dynamodb_table.quakes.replica : r.arn
  ]
}
