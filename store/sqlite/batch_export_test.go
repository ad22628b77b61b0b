package sqlite

import "time"

// SetBeforeBatch makes the CreateFile writer call fn with the number of
// inserts of each batch before applying it; fn may block to hold it.
func SetBeforeBatch(s *Store, fn func(n int)) { s.creates.beforeBatch = fn }

// QueuedCreates is how many CreateFiles wait in the writer's queue.
func QueuedCreates(s *Store) int { return len(s.creates.queue) }

// PauseNameIndexer keeps the name indexer of s from running on its own
// until ResumeNameIndexer; IndexNames still runs it.
func PauseNameIndexer(s *Store) { s.creates.indexerPaused.Store(true) }

// ResumeNameIndexer lets the name indexer of s run again.
func ResumeNameIndexer(s *Store) { s.creates.indexerPaused.Store(false) }

// SetAnticipateWait sets how long the writer of s holds a batch open for
// announced CreateFiles.
func SetAnticipateWait(s *Store, d time.Duration) { s.creates.wait = d }

// AnticipatedCreates is how many announced CreateFiles of s have not been
// queued or called off.
func AnticipatedCreates(s *Store) int { return int(s.creates.arriving.Load()) }
