// Package storetest is the conformance suite every store driver must pass,
// and the benchmarks every driver runs. It holds drivers to the contract in
// package store: identities and names, quotas, tenant isolation, paging,
// atomic updates, usage, API keys, and all of it under concurrency.
//
// A driver's test supplies a function that opens a new, empty store and
// arranges its release with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
//	}
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.RunBenchmarks(b, func(b *testing.B) store.Store { return openTemp(b) })
//	}
//
// Decisions the suite pins down, beyond what the interfaces say:
//   - File IDs are unique across tenants.
//   - Only PENDING, SCANNING and READY files hold a display name in their
//     name scope and count against the quota; FAILED, EXPIRED, ABORTED and
//     QUARANTINED files do neither.
//   - A display name held in its name scope is ErrNameTaken (which is also
//     ErrAlreadyExists); a taken ID or request ID is ErrAlreadyExists and
//     never ErrNameTaken.
//   - A PENDING file stops counting against quotas once its UploadExpires
//     is at or before the new file's CreatedAt (and, in Usage, at or before
//     Now); a PENDING file with no UploadExpires set keeps its reservation.
//   - The empty Scope is a scope of its own for Quota.ScopeMaxBytes, while
//     an empty ListOptions.Scope or UsageFilter.Scope does not filter.
//   - Display names compare byte for byte (case matters for uniqueness);
//     NameContains search ignores case (Unicode lower-casing) and treats
//     every character, % and _ included, literally.
//   - Times come back truncated to the microsecond, in UTC; zero times and
//     empty maps come back zero and nil.
//   - UpdateFile keeps ID, Tenant and CreatedAt whatever the update does,
//     and the DownloadURLCount RecordDownloadURL keeps.
//   - FindByContent and RetainedFiles see READY files only; FindByContent
//     never crosses tenants or scopes.
//   - A store hands every expired upload, queued deletion and object
//     check (store.Lifecycle) to one caller only, however many sweep at
//     once.
//   - A queued deletion carries the multipart upload id of the file it
//     comes from (of an expired upload, or of a deleted file that is not
//     READY); only a PENDING file holds its multipart upload against the
//     sweeper's orphan check.
//   - A store that implements store.KeyWatch hands every due watched key
//     to one caller only, and says whether its file is still PENDING or
//     READY; the KeyWatch cases skip for a store that does not.
package storetest

import (
	"testing"

	"github.com/presignd/presignd/store"
)

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called (subtests do not share one) and close it when t
// ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateFile", func(t *testing.T) { testCreateFile(t, newStore) })
	t.Run("Uniqueness", func(t *testing.T) { testUniqueness(t, newStore) })
	t.Run("Quota", func(t *testing.T) { testQuota(t, newStore) })
	t.Run("QuotaAfterChanges", func(t *testing.T) { testQuotaAfterChanges(t, newStore) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, newStore) })
	t.Run("ListFiles", func(t *testing.T) { testListFiles(t, newStore) })
	t.Run("ListRareNames", func(t *testing.T) { testListRareNames(t, newStore) })
	t.Run("UpdateFile", func(t *testing.T) { testUpdateFile(t, newStore) })
	t.Run("DeleteFile", func(t *testing.T) { testDeleteFile(t, newStore) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, newStore) })
	t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, newStore) })
	t.Run("APIKeyListAndRevoke", func(t *testing.T) { testAPIKeyListAndRevoke(t, newStore) })
	t.Run("APIKeyParents", func(t *testing.T) { testAPIKeyParents(t, newStore) })
	t.Run("DenyList", func(t *testing.T) { testDenyList(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newStore) })
	t.Run("KeyWatch", func(t *testing.T) { testKeyWatch(t, newStore) })
	t.Run("Multipart", func(t *testing.T) { testMultipart(t, newStore) })
	t.Run("ExpiringUploads", func(t *testing.T) { testExpiringUploads(t, newStore) })
	t.Run("DownloadURLs", func(t *testing.T) { testDownloadURLs(t, newStore) })
	t.Run("FindByContent", func(t *testing.T) { testFindByContent(t, newStore) })
	t.Run("RetainedFiles", func(t *testing.T) { testRetainedFiles(t, newStore) })
	t.Run("Scanning", func(t *testing.T) { testScanning(t, newStore) })
	t.Run("Thumbnails", func(t *testing.T) { testThumbnails(t, newStore) })
	t.Run("Ping", func(t *testing.T) {
		s := newStore(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping on an open store: %v", err)
		}
	})
}
