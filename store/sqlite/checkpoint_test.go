package sqlite_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// TestBackgroundCheckpoint checks that committed pages reach the database
// file while the store runs: the writer never checkpoints (it runs with
// wal_autocheckpoint=0), so without the background checkpointer the file
// would not grow until the store closes, and the WAL would grow without
// bound.
func TestBackgroundCheckpoint(t *testing.T) {
	s, path := openTempAt(t)
	before := fileSize(t, path)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := s.CreateFile(t.Context(), plainFile(), store.Quota{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 5s after 800 creates: the WAL is not checkpointed while the store runs", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
