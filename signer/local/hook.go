package local

import "context"

// CommitHook is called after a PUT or POST to an upload target has
// committed its object at key, before the response is written: what it
// does (complete the upload) is done when the client hears of the
// upload's success. It must not fail the upload; ctx is the request's.
type CommitHook func(ctx context.Context, key string)

// OnCommit sets the hook called after each PUT or POST upload commits its
// object (nil: none). Part uploads of a multipart upload do not call it.
// It may be set while the handler serves.
func (s *Signer) OnCommit(hook CommitHook) {
	if hook == nil {
		s.commitHook.Store(nil)
		return
	}
	s.commitHook.Store(&hook)
}

func (s *Signer) committed(ctx context.Context, key string) {
	if h := s.commitHook.Load(); h != nil {
		(*h)(ctx, key)
	}
}
