package sqlite

import (
	"context"

	"github.com/presignd/presignd/store/internal/migration"
)

// OpenThrough is Open, applying the migrations up to version through only:
// a database as an older release left it.
func OpenThrough(ctx context.Context, cfg Config, through int64) (*Store, error) {
	return open(ctx, cfg, through)
}

// MigrationVersions returns the versions of the embedded migrations, in
// order.
func MigrationVersions() ([]int64, error) {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	vs := make([]int64, len(ms))
	for i, m := range ms {
		vs[i] = m.Version
	}
	return vs, nil
}

// IndexNames runs s's name indexer now (see indexNames).
func IndexNames(ctx context.Context, s *Store) error { return s.indexNames(ctx) }

// HoldsMultipartUploadQuery is the statement HoldsMultipartUpload runs.
const HoldsMultipartUploadQuery = holdsMultipartUpload

// PendingFileByKeyQuery is the statement PendingFileByKey runs.
const PendingFileByKeyQuery = pendingFileByKey
