package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/internal/bytesize"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

var (
	checksumToProto = map[string]presigndv1.ChecksumAlgorithm{
		signer.SHA256: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256,
		signer.MD5:    presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5,
		signer.CRC32C: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C,
	}
	checksumFromProto = map[presigndv1.ChecksumAlgorithm]string{
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256: signer.SHA256,
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5:    signer.MD5,
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C: signer.CRC32C,
	}
	stateToProto = map[store.State]presigndv1.FileState{
		store.StatePending:     presigndv1.FileState_FILE_STATE_PENDING,
		store.StateReady:       presigndv1.FileState_FILE_STATE_READY,
		store.StateFailed:      presigndv1.FileState_FILE_STATE_FAILED,
		store.StateExpired:     presigndv1.FileState_FILE_STATE_EXPIRED,
		store.StateAborted:     presigndv1.FileState_FILE_STATE_ABORTED,
		store.StateScanning:    presigndv1.FileState_FILE_STATE_SCANNING,
		store.StateQuarantined: presigndv1.FileState_FILE_STATE_QUARANTINED,
	}
	stateFromProto = map[presigndv1.FileState]store.State{
		presigndv1.FileState_FILE_STATE_PENDING:     store.StatePending,
		presigndv1.FileState_FILE_STATE_READY:       store.StateReady,
		presigndv1.FileState_FILE_STATE_FAILED:      store.StateFailed,
		presigndv1.FileState_FILE_STATE_EXPIRED:     store.StateExpired,
		presigndv1.FileState_FILE_STATE_ABORTED:     store.StateAborted,
		presigndv1.FileState_FILE_STATE_SCANNING:    store.StateScanning,
		presigndv1.FileState_FILE_STATE_QUARANTINED: store.StateQuarantined,
	}
	methodFromProto = map[presigndv1.UploadMethod]string{
		presigndv1.UploadMethod_UPLOAD_METHOD_PUT:       policy.MethodPut,
		presigndv1.UploadMethod_UPLOAD_METHOD_POST:      policy.MethodPost,
		presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART: policy.MethodMultipart,
	}
	methodToProto = map[string]presigndv1.UploadMethod{
		policy.MethodPut:       presigndv1.UploadMethod_UPLOAD_METHOD_PUT,
		policy.MethodPost:      presigndv1.UploadMethod_UPLOAD_METHOD_POST,
		policy.MethodMultipart: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART,
	}
)

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func (s *Server) fileToProto(f *store.File) *presigndv1.File {
	pf := &presigndv1.File{
		FileId:              f.ID,
		SignedId:            s.signedIDs.make(f.Tenant, f.ID),
		Tenant:              f.Tenant,
		Category:            f.Category,
		DisplayName:         f.DisplayName,
		Filename:            f.Filename,
		Key:                 f.Key,
		Backend:             f.Backend,
		ContentType:         f.ContentType,
		SizeBytes:           f.SizeBytes,
		Etag:                f.ETag,
		State:               stateToProto[f.State],
		FailureReason:       f.FailureReason,
		Owner:               f.Owner,
		Metadata:            f.Metadata,
		CreateTime:          timestamp(f.CreatedAt),
		UpdateTime:          timestamp(f.UpdatedAt),
		CompleteTime:        timestamp(f.CompletedAt),
		UploadExpireTime:    timestamp(f.UploadExpires),
		UploadCount:         f.UploadCount,
		SizeDisplay:         bytesize.Format(f.SizeBytes),
		CompletedBy:         f.CompletedBy,
		ScanResult:          f.ScanResult,
		DetectedContentType: f.DetectedContentType,

		PresignedUrlCount:    int64(f.UploadCount) + f.DownloadURLCount,
		DownloadUrlCount:     f.DownloadURLCount,
		LastPresignedUrlTime: timestamp(f.LastURLAt),
		SizeUnknown:          f.SizeUnknown,
	}
	if c, ok := s.categories[f.Category]; ok && f.State == store.StateReady {
		if u := c.PublicURL(f.Key); u != "" {
			pf.PublicUrl, pf.IsPublic = u, true
		}
	}
	if f.Uploader != (store.Uploader{}) {
		pf.Uploader = &presigndv1.Uploader{Kind: f.Uploader.Kind, Id: f.Uploader.ID, DisplayName: f.Uploader.Name}
	}
	if b, ok := s.backends[f.Backend]; ok {
		pf.StorageUri = b.StorageURI(f.Key)
	}
	if f.ChecksumAlgorithm != "" {
		pf.Checksum = &presigndv1.Checksum{Algorithm: checksumToProto[f.ChecksumAlgorithm], Value: f.ChecksumValue}
	}
	if f.PartSize > 0 {
		pf.Multipart = s.layoutToProto(f)
	}
	for _, t := range f.Thumbnails {
		pt := &presigndv1.Thumbnail{
			Name: t.Name, Width: t.Width, Height: t.Height, ContentType: t.ContentType, SizeBytes: t.SizeBytes, Key: t.Key,
		}
		if pf.IsPublic {
			pt.PublicUrl = s.categories[f.Category].PublicURL(t.Key)
		}
		pf.Thumbnails = append(pf.Thumbnails, pt)
	}
	return pf
}

// layoutToProto describes the part layout of f, a multipart upload.
func (s *Server) layoutToProto(f *store.File) *presigndv1.MultipartLayout {
	l := &presigndv1.MultipartLayout{
		PartSizeBytes:         f.PartSize,
		PartCount:             int32(partCount(f.SizeBytes, f.PartSize)),
		PartChecksumAlgorithm: checksumToProto[f.PartChecksumAlgorithm],
	}
	if mp := s.backendCaps[f.Backend].Multipart; mp != nil {
		l.PartsWithoutEtag = mp.PartLimits().PartsWithoutETag
	}
	return l
}

// partTargetToProto converts a part target; expires, when not nil, is
// t.Expires as a Timestamp, shared by the targets of one call (answers
// are never changed once built).
func partTargetToProto(number int, size int64, t signer.UploadTarget, expires *timestamppb.Timestamp) *presigndv1.PartTarget {
	if expires == nil {
		expires = timestamp(t.Expires)
	}
	return &presigndv1.PartTarget{
		PartNumber: int32(number),
		Url:        t.URL,
		Headers:    t.Headers,
		SizeBytes:  size,
		ExpireTime: expires,
	}
}

func targetToProto(t signer.UploadTarget, maxSize int64) *presigndv1.UploadTarget {
	return &presigndv1.UploadTarget{
		Method:       methodToProto[t.Method],
		Url:          t.URL,
		Headers:      t.Headers,
		FormFields:   t.FormFields,
		ExpireTime:   timestamp(t.Expires),
		MaxSizeBytes: maxSize,
	}
}
