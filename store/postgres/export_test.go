package postgres

import (
	"context"

	"github.com/presignd/presignd/store"
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

// ListQuery is the statement ListFiles runs, and its arguments.
func ListQuery(tenant string, opts store.ListOptions) (string, []any) {
	return listQuery(tenant, opts)
}

// WordLen is the most characters of a word the word index keeps.
const WordLen = wordLen

// MaxConns is the size limit of s's connection pool.
func MaxConns(s *Store) int32 { return s.pool.Config().MaxConns }

// SetBeforeBatch makes the CreateFile writer of s call fn with the number
// of creates of each batch before applying it; fn may block to hold it.
func SetBeforeBatch(s *Store, fn func(n int)) { s.beforeBatch = fn }

// QueuedCreates is how many CreateFiles of s wait in the writer's queue.
func QueuedCreates(s *Store) int { return s.creates.Queued() }

// Writers is how many batches of creates a Store applies at once.
const Writers = writers

// HoldsMultipartUploadQuery is the statement HoldsMultipartUpload runs.
const HoldsMultipartUploadQuery = holdsMultipartUpload

// PendingFileByKeyQuery is the statement PendingFileByKey runs.
const PendingFileByKeyQuery = pendingFileByKey
