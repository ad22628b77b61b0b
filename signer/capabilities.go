package signer

import (
	"context"
	"io"

	"github.com/presignd/presignd/internal/capability"
)

// PostPolicySigner is an optional capability of a backend that signs
// HTML-form POST uploads whose policy enforces key, content type and a
// size range.
type PostPolicySigner interface {
	SignPostUpload(ctx context.Context, req UploadRequest) (UploadTarget, error)
}

// LeftoverRemover is an optional capability of a backend that keeps files
// of its own besides objects (the local backend's abandoned uploads and
// lapsed tombstones): RemoveLeftovers removes those no request needs any
// more and reports how many it removed.
type LeftoverRemover interface {
	RemoveLeftovers(ctx context.Context) (removed int, err error)
}

// Capabilities are the optional capabilities of a Signer, beyond the
// Signer contract every driver meets. Each field is the signer itself,
// seen through that capability's interface, or nil when the signer does
// not have it. This is the one list of them: wiring code calls
// CapabilitiesOf once per backend and hands the fields on; nothing else
// asks a signer what it can do.
type Capabilities struct {
	// PostPolicy signs HTML-form POST uploads (PostPolicySigner).
	PostPolicy PostPolicySigner
	// Leftovers removes the backend's own leftover files, for a sweeper.
	Leftovers LeftoverRemover
	// Multipart takes objects in parts (MultipartUploader).
	Multipart MultipartUploader
	// MultipartLister lists the multipart uploads the backend holds.
	MultipartLister MultipartLister
	// Reader reads stored bytes back (ObjectReader).
	Reader ObjectReader
	// Writer stores bytes presignd produces itself (ObjectWriter).
	Writer ObjectWriter
	// Checker answers preflight checks (doctor, /readyz).
	Checker Checker
	// Closer releases the resources the backend holds, at shutdown.
	Closer io.Closer
}

// CapabilitiesOf discovers the optional capabilities of s. A nil s has
// none. A signer that wraps another (to time it, say) has the capabilities
// it implements itself, not those of the signer it wraps.
func CapabilitiesOf(s Signer) Capabilities {
	var c Capabilities
	c.PostPolicy, _ = s.(PostPolicySigner)
	c.Leftovers, _ = s.(LeftoverRemover)
	c.Multipart, _ = s.(MultipartUploader)
	c.MultipartLister, _ = s.(MultipartLister)
	c.Reader, _ = s.(ObjectReader)
	c.Writer, _ = s.(ObjectWriter)
	c.Checker, _ = s.(Checker)
	c.Closer, _ = s.(io.Closer)
	return c
}

// String names the capabilities present, such as
// "PostPolicy Leftovers Closer", or "none".
func (c Capabilities) String() string {
	return capability.List(
		capability.Named{Name: "PostPolicy", Has: c.PostPolicy != nil},
		capability.Named{Name: "Leftovers", Has: c.Leftovers != nil},
		capability.Named{Name: "Multipart", Has: c.Multipart != nil},
		capability.Named{Name: "MultipartLister", Has: c.MultipartLister != nil},
		capability.Named{Name: "Reader", Has: c.Reader != nil},
		capability.Named{Name: "Writer", Has: c.Writer != nil},
		capability.Named{Name: "Checker", Has: c.Checker != nil},
		capability.Named{Name: "Closer", Has: c.Closer != nil},
	)
}
