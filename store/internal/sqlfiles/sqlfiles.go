// Package sqlfiles is what presignd's SQL store drivers (sqlite,
// postgres) share: the file record's columns and how its fields are
// encoded, the errors a quota refusal returns, the name search decisions,
// and the metrics of the group commit. Each driver keeps what differs: its
// statements, its types, its errors.
package sqlfiles
