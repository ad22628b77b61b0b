package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints in the background.
//
// In WAL mode every commit appends the pages it changed to the WAL, and a
// checkpoint copies them back into the database file (with an fsync of
// each, under synchronous=NORMAL) so the WAL can start over. By default
// the connection whose commit takes the WAL past 1000 pages runs that
// checkpoint itself, inside its commit; for the writer that means every
// few batches of CreateFile stall behind it. So the writer connection
// runs with wal_autocheckpoint=0, and a goroutine on a connection of its
// own runs a PASSIVE checkpoint after writes, at most every
// checkpointInterval: it never waits for readers or the writer (a page a
// reader may still need is left for the next round), copies each page
// once however many commits changed it since the last round, and runs on
// the other core while the writer goes on.

// checkpointInterval is the least time between two background
// checkpoints. At the writer's peak rate it lets the WAL grow by a few
// thousand pages between rounds.
const checkpointInterval = 100 * time.Millisecond

// checkpointer runs the background checkpoints of a database.
type checkpointer struct {
	db      *sql.DB // one connection of its own
	wrote   chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, wrote: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// written tells the checkpointer that a transaction has committed.
func (c *checkpointer) written() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.wrote:
		case <-c.stop:
			return
		}
		// An error (a busy lock held by another process's checkpoint, an
		// I/O error the next write reports too) only defers the copy to
		// the next round.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		select {
		case <-time.After(checkpointInterval):
		case <-c.stop:
			return
		}
	}
}

// close stops the goroutine and closes its connection. Closing the last
// connection of the database checkpoints what is left.
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.stopped
	return c.db.Close()
}
