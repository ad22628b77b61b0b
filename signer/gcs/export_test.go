package gcs

// SetListPages sets the page sizes ListParts and ListMultipartUploads ask
// for, so that tests cover paging with few items, and returns a function
// that restores them.
func SetListPages(parts, uploads int) (restore func()) {
	oldParts, oldUploads := listPartsPage, listUploadsPage
	listPartsPage, listUploadsPage = parts, uploads
	return func() { listPartsPage, listUploadsPage = oldParts, oldUploads }
}
