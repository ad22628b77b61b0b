package azure

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/presignd/presignd/signer"
)

// Multipart uploads on Azure (signer.MultipartUploader, signer.MultipartLister).
//
// Azure has no multipart upload object: a block blob takes uncommitted
// blocks (Put Block) and becomes what a block list names (Put Block List).
// Put Block needs a SAS with write permission (sp=w), which would also let
// its holder replace the finished object (Put Blob) or its block list for
// as long as the SAS lives. So the parts never go to the object's key:
//
//   - CreateMultipart writes a staging blob, "~multipart/<upload id>" (the
//     upload id is 32 random hex digits), of zero bytes carrying the
//     object's content type and disposition and, in metadata, its key. The
//     staging blob is the upload: ListParts, ListMultipartUploads and
//     AbortMultipart look at it. Keys made from key templates never start
//     with "~", so staging blobs cannot collide with objects.
//   - A part target is Put Block to the staging blob, with a write SAS for
//     that blob alone (sr=b): it cannot reach the object's key or another
//     upload. The block id names the part ("part-NNNNN", base64) and is not
//     signed: a holder can move a part's bytes to another part number of the
//     same upload, which completion then refuses unless every part has its
//     exact size. Azure answers Put Block without an ETag and Get Block
//     List reports ids and sizes only, so parts carry no ETag.
//   - CompleteMultipart (with the account's credential, never a SAS) commits
//     the named blocks on the staging blob, on the condition that the
//     staging blob is still the one it read; copies the staging blob to the
//     key, on the conditions that nothing is stored at the key yet and the
//     staging blob is still the one committed; waits for the copy, which
//     Azure makes within the account; and deletes the staging blob. A copy
//     interrupted by a crash is resumed by the next call, which knows its
//     own copy by the presignd_upload metadata it set.
//   - AbortMultipart deletes the staging blob and the blocks it holds. A
//     part target used after that creates a blob of uncommitted blocks
//     that no completion accepts (the upload is gone: ListParts and
//     CompleteMultipart say ErrNotFound) and that Azure discards after a
//     week.
const (
	// MaxBlockSize is the largest block Put Block stores (4,000 MiB).
	MaxBlockSize = 4000 << 20
	// MaxBlocks is the most blocks a block blob commits.
	MaxBlocks = 50000
	// stagingPrefix starts the name of every staging blob.
	stagingPrefix = "~multipart/"
	// keyMetadata holds a staging blob's object key, base64url.
	keyMetadata = "presignd_key"
	// uploadMetadata marks an object made by CompleteMultipart with its
	// upload id.
	uploadMetadata = "presignd_upload"
	// copyPoll is how often CompleteMultipart looks at a copy in progress.
	copyPoll = 200 * time.Millisecond
)

var (
	_ signer.MultipartUploader = (*Signer)(nil)
	_ signer.MultipartLister   = (*Signer)(nil)
)

// PartLimits returns Azure's block blob limits: no minimum block size,
// blocks of up to 4,000 MiB, 50,000 blocks, and parts without ETags.
func (s *Signer) PartLimits() signer.PartLimits {
	return signer.PartLimits{
		MinPartSize:   1,
		MaxPartSize:   MaxBlockSize,
		MaxParts:      MaxBlocks,
		MaxObjectSize: MaxBlocks * MaxBlockSize,
		// Put Block answers no ETag; Get Block List reports none.
		PartsWithoutETag: true,
	}
}

// CreateMultipart writes the staging blob of a new upload of req.Key and
// returns its upload id. A part checksum (req.Checksum.Algorithm) is
// ErrUnsupported: Put Block verifies only MD5 and CRC64, which the part
// targets cannot bind.
func (s *Signer) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	if err := signer.ValidateKey(req.Key); err != nil {
		return "", fmt.Errorf("azure: create multipart upload: %w", err)
	}
	if err := checkHeaderValue("ContentType", req.ContentType); err != nil {
		return "", fmt.Errorf("azure: create multipart upload %s: %w", req.Key, err)
	}
	if err := checkHeaderValue("ContentDisposition", req.ContentDisposition); err != nil {
		return "", fmt.Errorf("azure: create multipart upload %s: %w", req.Key, err)
	}
	if req.Checksum.Algorithm != "" {
		return "", fmt.Errorf("azure: create multipart upload %s: part checksum %q: %w", req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("azure: create multipart upload %s: %w", req.Key, err)
	}
	id := hex.EncodeToString(b[:])
	opts := &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{},
		Metadata:    map[string]*string{keyMetadata: to.Ptr(base64.RawURLEncoding.EncodeToString([]byte(req.Key)))},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfNoneMatch: to.Ptr(azcore.ETagAny),
		}},
	}
	if req.ContentType != "" {
		opts.HTTPHeaders.BlobContentType = to.Ptr(req.ContentType)
	}
	if req.ContentDisposition != "" {
		opts.HTTPHeaders.BlobContentDisposition = to.Ptr(req.ContentDisposition)
	}
	if _, err := s.staging(id).Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), opts); err != nil {
		return "", s.fail(ctx, "create multipart upload", req.Key, err)
	}
	return id, nil
}

// SignPart returns a Put Block target for part req.PartNumber of the
// upload: a write SAS for the upload's staging blob, until req.Expires. It
// does no I/O (but for a user delegation key's fetch or renewal). A part checksum is ErrUnsupported (CreateMultipart refuses
// such uploads).
func (s *Signer) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	t := s.now().UTC()
	if err := checkMultipart(req.Key, req.UploadID); err != nil {
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part: %w", err)
	}
	switch {
	case req.PartNumber < 1 || req.PartNumber > MaxBlocks:
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part %d of %s: part numbers run from 1 to %d", req.PartNumber, req.Key, MaxBlocks)
	case req.Size < 0 || req.Size > MaxBlockSize:
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part %d of %s: Size %d is not from 0 to %d", req.PartNumber, req.Key, req.Size, int64(MaxBlockSize))
	case !req.Checksum.IsZero():
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part %d of %s: checksum %q: %w", req.PartNumber, req.Key, req.Checksum.Algorithm, signer.ErrUnsupported)
	}
	expires, err := expiry(req.Expires, t)
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	name := stagingPrefix + req.UploadID
	q, err := s.token(ctx, name, "w", t, expires, "", "")
	if err != nil {
		return signer.UploadTarget{}, fmt.Errorf("azure: sign part %d of %s: %w", req.PartNumber, req.Key, err)
	}
	return signer.UploadTarget{
		Method:  http.MethodPut,
		URL:     s.blobURL(name) + "?comp=block&blockid=" + url.QueryEscape(blockID(req.PartNumber)) + "&" + q,
		Headers: map[string]string{},
		Expires: expires,
	}, nil
}

// ListParts returns the parts the upload's staging blob holds, by part
// number, with their sizes and no ETag. An upload that is unknown,
// completed or aborted (no staging blob) is ErrNotFound.
func (s *Signer) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	if err := checkMultipart(key, uploadID); err != nil {
		return nil, fmt.Errorf("azure: list parts: %w", err)
	}
	bb := s.staging(uploadID)
	if _, err := bb.GetProperties(ctx, nil); err != nil {
		return nil, s.fail(ctx, "list parts of", key, err)
	}
	held, err := s.heldBlocks(ctx, bb)
	if err != nil {
		return nil, s.fail(ctx, "list parts of", key, err)
	}
	parts := make([]signer.Part, 0, len(held))
	for n, size := range held {
		parts = append(parts, signer.Part{PartNumber: n, Size: size})
	}
	slices.SortFunc(parts, func(a, b signer.Part) int { return a.PartNumber - b.PartNumber })
	return parts, nil
}

// heldBlocks returns the sizes of the part blocks of a staging blob by
// part number: the uncommitted ones, and the committed ones of a
// completion that stopped before its copy, unless sent again since (Put
// Block List's "Latest" picks the same). Blocks whose ids name no part
// (sent by hand) are left out.
func (s *Signer) heldBlocks(ctx context.Context, bb *blockblob.Client) (map[int]int64, error) {
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if err != nil {
		return nil, err
	}
	held := make(map[int]int64, len(bl.UncommittedBlocks)+len(bl.CommittedBlocks))
	for _, b := range slices.Concat(bl.CommittedBlocks, bl.UncommittedBlocks) {
		if n, ok := parseBlockID(b.Name); ok && b.Size != nil {
			held[n] = *b.Size
		}
	}
	return held, nil
}

// CompleteMultipart joins parts into the object at key (see the comment at
// the top of this file). A part the staging blob does not hold, or holds
// with another size than a Size given, is ErrInvalidPart; so is an object
// already stored at the key that this upload did not make. An unknown
// upload is ErrNotFound, which an upload this call completed before is too
// (its staging blob is gone).
func (s *Signer) CompleteMultipart(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	if err := checkMultipart(key, uploadID); err != nil {
		return fmt.Errorf("azure: complete multipart upload: %w", err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("azure: complete multipart upload %s: no parts: %w", key, signer.ErrInvalidPart)
	}
	for i, p := range parts {
		switch {
		case p.PartNumber < 1 || p.PartNumber > MaxBlocks:
			return fmt.Errorf("azure: complete multipart upload %s: part %d: %w: part numbers run from 1 to %d", key, p.PartNumber, signer.ErrInvalidPart, MaxBlocks)
		case i > 0 && p.PartNumber <= parts[i-1].PartNumber:
			return fmt.Errorf("azure: complete multipart upload %s: part %d: %w: parts must be given once each by ascending number", key, p.PartNumber, signer.ErrInvalidPart)
		}
	}
	// A concurrent completion or a part sent meanwhile changes the staging
	// blob between the reads and the conditional writes; start again.
	var err error
	for range 3 {
		if err = s.completeOnce(ctx, key, uploadID, parts); !errors.Is(err, errStagingChanged) {
			return err
		}
	}
	return fmt.Errorf("azure: complete multipart upload %s: %w", key, err)
}

// errStagingChanged: a conditional write found the staging blob changed.
var errStagingChanged = errors.New("the upload's staging blob changed while its parts were joined")

func (s *Signer) completeOnce(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	bb := s.staging(uploadID)
	props, err := bb.GetProperties(ctx, nil)
	if err != nil {
		return s.fail(ctx, "complete multipart upload", key, err)
	}
	held, err := s.heldBlocks(ctx, bb)
	if err != nil {
		return s.fail(ctx, "complete multipart upload", key, err)
	}
	ids := make([]string, len(parts))
	for i, p := range parts {
		size, ok := held[p.PartNumber]
		switch {
		case !ok:
			return fmt.Errorf("azure: complete multipart upload %s: part %d was never uploaded: %w", key, p.PartNumber, signer.ErrInvalidPart)
		case p.Size > 0 && size != p.Size:
			return fmt.Errorf("azure: complete multipart upload %s: part %d holds %d bytes, not %d: %w", key, p.PartNumber, size, p.Size, signer.ErrInvalidPart)
		}
		ids[i] = blockID(p.PartNumber)
	}
	// Committed every time, even after a completion that stopped later:
	// "Latest" takes a block committed before when none was sent since.
	committed, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: props.ContentType, BlobContentDisposition: props.ContentDisposition},
		Metadata:    props.Metadata,
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfMatch: props.ETag,
		}},
	})
	switch {
	case bloberror.HasCode(err, bloberror.ConditionNotMet):
		return errStagingChanged
	case bloberror.HasCode(err, bloberror.InvalidBlockList):
		return fmt.Errorf("azure: complete multipart upload %s: %w: Azure refused the block list: %w", key, signer.ErrInvalidPart, err)
	case err != nil:
		return s.fail(ctx, "complete multipart upload", key, err)
	}
	if err := s.copyStaging(ctx, key, uploadID, committed.ETag); err != nil {
		return err
	}
	if _, err := bb.Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return s.fail(ctx, "complete multipart upload", key, err)
	}
	return nil
}

// copyStaging copies the upload's committed staging blob, as it is at
// etag, to key, where nothing may be stored yet, and waits for the copy.
// A copy of this upload already there (a completion interrupted before
// deleting the staging blob) is waited for instead.
func (s *Signer) copyStaging(ctx context.Context, key, uploadID string, etag *azcore.ETag) error {
	dst := s.client.NewBlobClient(key)
	now := s.now().UTC()
	read, err := s.token(ctx, stagingPrefix+uploadID, "r", now, now.Add(time.Hour).Truncate(time.Second), "", "")
	if err != nil {
		return fmt.Errorf("azure: complete multipart upload %s: %w", key, err)
	}
	source := s.blobURL(stagingPrefix+uploadID) + "?" + read
	resp, err := dst.StartCopyFromURL(ctx, source, &blob.StartCopyFromURLOptions{
		Metadata:                       map[string]*string{uploadMetadata: to.Ptr(uploadID)},
		SourceModifiedAccessConditions: &blob.SourceModifiedAccessConditions{SourceIfMatch: etag},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfNoneMatch: to.Ptr(azcore.ETagAny),
		}},
	})
	status := resp.CopyStatus
	switch {
	case bloberror.HasCode(err, bloberror.SourceConditionNotMet):
		return errStagingChanged
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.TargetConditionNotMet, bloberror.ConditionNotMet):
		props, perr := dst.GetProperties(ctx, nil)
		if perr != nil {
			return s.fail(ctx, "complete multipart upload", key, perr)
		}
		if v := metadata(props.Metadata, uploadMetadata); v != uploadID {
			return fmt.Errorf("azure: complete multipart upload %s: %w: an object this upload did not make is stored at the key", key, signer.ErrInvalidPart)
		}
		status = props.CopyStatus
	case err != nil:
		return s.fail(ctx, "complete multipart upload", key, err)
	}
	for {
		switch {
		case status == nil:
			return fmt.Errorf("azure: complete multipart upload %s: the copy of the joined parts reports no status", key)
		case *status == blob.CopyStatusTypeSuccess:
			return nil
		case *status != blob.CopyStatusTypePending:
			return fmt.Errorf("azure: complete multipart upload %s: %w: the copy of the joined parts ended %s", key, signer.ErrUnavailable, *status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("azure: complete multipart upload %s: waiting for the copy of the joined parts: %w", key, ctx.Err())
		case <-time.After(copyPoll):
		}
		props, err := dst.GetProperties(ctx, nil)
		if err != nil {
			return s.fail(ctx, "complete multipart upload", key, err)
		}
		status = props.CopyStatus
	}
}

// AbortMultipart deletes the upload's staging blob and the blocks it
// holds. It never touches the object's key; an unknown, completed or
// aborted upload is not an error.
func (s *Signer) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := signer.ValidateKey(key); err != nil {
		return fmt.Errorf("azure: abort multipart upload: %w", err)
	}
	if !validUploadID(uploadID) {
		return nil // no upload has such an id
	}
	include := blob.DeleteSnapshotsOptionTypeInclude
	_, err := s.staging(uploadID).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &include})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return s.fail(ctx, "abort multipart upload of", key, err)
	}
	return nil
}

// ListMultipartUploads returns up to limit uploads whose staging blobs
// were created before initiatedBefore, oldest first. The key comes from
// the staging blob's metadata, which a part target's holder can rewrite:
// it is for reports, and AbortMultipart does not use it.
func (s *Signer) ListMultipartUploads(ctx context.Context, initiatedBefore time.Time, limit int) ([]signer.PendingMultipart, error) {
	var out []signer.PendingMultipart
	pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  to.Ptr(stagingPrefix),
		Include: container.ListBlobsInclude{Metadata: true},
	})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list multipart uploads in", s.container, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil {
				continue
			}
			id := strings.TrimPrefix(*item.Name, stagingPrefix)
			if !validUploadID(id) {
				continue
			}
			initiated := item.Properties.CreationTime
			if initiated == nil {
				initiated = item.Properties.LastModified
			}
			if initiated == nil || !initiated.Before(initiatedBefore) {
				continue
			}
			p := signer.PendingMultipart{UploadID: id, Initiated: *initiated}
			if k, err := base64.RawURLEncoding.DecodeString(metadata(item.Metadata, keyMetadata)); err == nil && signer.ValidateKey(string(k)) == nil {
				p.Key = string(k)
			}
			if p.Key == "" {
				p.Key = *item.Name // metadata rewritten: AbortMultipart needs only a valid key
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b signer.PendingMultipart) int { return a.Initiated.Compare(b.Initiated) })
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// metadata returns the value of the metadata named name, whatever the
// case of its name (HTTP header canonicalisation changes it).
func metadata(m map[string]*string, name string) string {
	for k, v := range m {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

// staging returns the client of the staging blob of uploadID.
func (s *Signer) staging(uploadID string) *blockblob.Client {
	return s.client.NewBlockBlobClient(stagingPrefix + uploadID)
}

// checkMultipart validates the key and upload id of a multipart call.
func checkMultipart(key, uploadID string) error {
	if err := signer.ValidateKey(key); err != nil {
		return err
	}
	if !validUploadID(uploadID) {
		return fmt.Errorf("upload id %q is not one CreateMultipart returns: %w", uploadID, signer.ErrNotFound)
	}
	return nil
}

// validUploadID reports whether id is 32 lowercase hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// blockID is the block id of part n: "part-" and five digits, base64. All
// ids of a blob have one length, as Azure requires.
func blockID(n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "part-%05d", n))
}

// parseBlockID returns the part number a block id names.
func parseBlockID(id *string) (int, bool) {
	if id == nil {
		return 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(*id)
	if err != nil || len(raw) != 10 || !bytes.HasPrefix(raw, []byte("part-")) {
		return 0, false
	}
	n, err := strconv.Atoi(string(raw[5:]))
	if err != nil || n < 1 || n > MaxBlocks || raw[5] == '+' || raw[5] == '-' {
		return 0, false
	}
	return n, true
}
