package signer_test

import (
	"context"
	"testing"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/azure"
	"github.com/presignd/presignd/signer/gcs"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/s3"
)

// Fake signers: each has the Signer contract (by embedding it) and the
// optional capabilities its name says.
type (
	bareSigner     struct{ signer.Signer }
	postSigner     struct{ signer.Signer }
	leavingSigner  struct{ signer.Signer }
	closingSigner  struct{ signer.Signer }
	fullSigner     struct{ signer.Signer }
	wrappingSigner struct{ signer.Signer } // wraps a fullSigner, adds nothing
)

func (postSigner) SignPostUpload(context.Context, signer.UploadRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{}, nil
}
func (leavingSigner) RemoveLeftovers(context.Context) (int, error) { return 0, nil }
func (closingSigner) Close() error                                 { return nil }

func (*fullSigner) SignPostUpload(context.Context, signer.UploadRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{}, nil
}
func (*fullSigner) RemoveLeftovers(context.Context) (int, error) { return 0, nil }
func (*fullSigner) Close() error                                 { return nil }

// has is which capabilities a Capabilities reports.
type has struct{ postPolicy, leftovers, reader, writer, closer bool }

func hasOf(c signer.Capabilities) has {
	return has{c.PostPolicy != nil, c.Leftovers != nil, c.Reader != nil, c.Writer != nil, c.Closer != nil}
}

// TestCapabilitiesOf: CapabilitiesOf finds exactly the optional
// capabilities a signer has, and every real driver reports those it is
// meant to have (losing a method fails here, not in production wiring).
func TestCapabilitiesOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer signer.Signer
		want   has
		names  string
	}{
		{"a signer with no optional capability has none", bareSigner{}, has{}, "none"},
		{"a nil signer has none", nil, has{}, "none"},
		{"a signer of POST policies has PostPolicy", postSigner{}, has{postPolicy: true}, "PostPolicy"},
		{"a signer that removes leftovers has Leftovers", leavingSigner{}, has{leftovers: true}, "Leftovers"},
		{"a signer that closes has Closer", closingSigner{}, has{closer: true}, "Closer"},
		{"a signer with every capability has all", &fullSigner{}, has{postPolicy: true, leftovers: true, closer: true}, "PostPolicy Leftovers Closer"},
		{"a wrapper has only what it implements itself", wrappingSigner{&fullSigner{}}, has{}, "none"},
		{"the local driver signs POST policies, removes leftovers, takes and lists multipart uploads, reads and writes objects and closes", (*local.Signer)(nil),
			has{postPolicy: true, leftovers: true, reader: true, writer: true, closer: true}, "PostPolicy Leftovers Multipart MultipartLister Reader Writer Closer"},
		{"the S3 driver signs POST policies and multipart uploads, lists them, reads and writes objects, and answers preflight checks", (*s3.Signer)(nil),
			has{postPolicy: true, reader: true, writer: true}, "PostPolicy Multipart MultipartLister Reader Writer Checker"},
		{"the GCS driver signs POST policies, takes and lists multipart uploads, reads and writes objects, answers preflight checks and closes", (*gcs.Signer)(nil),
			has{postPolicy: true, reader: true, writer: true, closer: true}, "PostPolicy Multipart MultipartLister Reader Writer Checker Closer"},
		{"the Azure driver takes and lists multipart uploads, reads and writes objects and answers preflight checks", (*azure.Signer)(nil),
			has{reader: true, writer: true}, "Multipart MultipartLister Reader Writer Checker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := signer.CapabilitiesOf(tc.signer)
			if got := hasOf(c); got != tc.want {
				t.Errorf("CapabilitiesOf(%T) = %+v, want %+v", tc.signer, got, tc.want)
			}
			if got := c.String(); got != tc.names {
				t.Errorf("String() = %q, want %q", got, tc.names)
			}
		})
	}
}

// TestCapabilitiesAreTheSigner: each capability found is the signer
// itself, so calls through it reach the signer.
func TestCapabilitiesAreTheSigner(t *testing.T) {
	s := &fullSigner{}
	c := signer.CapabilitiesOf(s)
	for name, got := range map[string]any{"PostPolicy": c.PostPolicy, "Leftovers": c.Leftovers, "Closer": c.Closer} {
		if got != any(s) {
			t.Errorf("%s is %v, want the signer %p", name, got, s)
		}
	}
}
