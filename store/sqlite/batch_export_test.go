package sqlite

// SetBeforeBatch makes the CreateFile writer call fn with the number of
// inserts of each batch before applying it; fn may block to hold it.
func SetBeforeBatch(s *Store, fn func(n int)) { s.creates.beforeBatch = fn }

// QueuedCreates is how many CreateFiles wait in the writer's queue.
func QueuedCreates(s *Store) int { return s.creates.w.Queued() }

// PauseNameIndexer keeps the name indexer of s from running on its own
// until ResumeNameIndexer; IndexNames still runs it.
func PauseNameIndexer(s *Store) { s.creates.indexerPaused.Store(true) }

// ResumeNameIndexer lets the name indexer of s run again.
func ResumeNameIndexer(s *Store) { s.creates.indexerPaused.Store(false) }

// Closed reports whether Close has been called on s.
func Closed(s *Store) bool { return s.closed.Load() }
