package local

import (
	"testing"
	"time"
)

// TestUploadLocksArePerUpload: holding one upload's lock does not hold up
// another upload, it does hold up the same upload, and a lock nobody holds
// or waits for is forgotten.
func TestUploadLocksArePerUpload(t *testing.T) {
	var l uploadLocks
	unlockA := l.lock("a")
	other := make(chan func())
	go func() { other <- l.lock("b") }()
	select {
	case unlockB := <-other:
		unlockB()
	case <-time.After(10 * time.Second):
		t.Fatal("locking upload b waited for upload a")
	}
	same := make(chan func())
	go func() { same <- l.lock("a") }()
	// Wait until the second locker of a is counted, then check it waits.
	for deadline := time.Now().Add(10 * time.Second); ; {
		l.mu.Lock()
		refs := l.m["a"].refs
		l.mu.Unlock()
		if refs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second locker of a never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-same:
		t.Fatal("upload a was locked twice at once")
	default:
	}
	unlockA()
	select {
	case unlock := <-same:
		unlock()
	case <-time.After(10 * time.Second):
		t.Fatal("upload a's second locker never got the lock")
	}
	if len(l.m) != 0 {
		t.Errorf("locks kept after release: %v", l.m)
	}
}
