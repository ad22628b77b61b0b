package server

import (
	"context"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/presignd/presignd/gen/presignd/v1"
)

// inProcessMethod is one method as a caller in the same process (the REST
// gateway) calls it: through s's interceptor chain as the gRPC server
// would, with no transport and no encoding. Its server info and handler
// are built once, so a call allocates neither.
type inProcessMethod[Req, Resp any] struct {
	s       *Server
	info    grpc.UnaryServerInfo
	handler grpc.UnaryHandler
}

// newInProcessMethod returns method (a gRPC full method name) of service,
// handled by handler.
func newInProcessMethod[Req, Resp any](s *Server, service any, method string, handler func(context.Context, Req) (Resp, error)) *inProcessMethod[Req, Resp] {
	return &inProcessMethod[Req, Resp]{
		s:    s,
		info: grpc.UnaryServerInfo{Server: service, FullMethod: method},
		handler: func(ctx context.Context, req any) (any, error) {
			return handler(ctx, req.(Req))
		},
	}
}

// call runs the method on req through the chain. The caller's context
// must carry what a gRPC call's does: incoming metadata, the peer and a
// grpc.ServerTransportStream for response headers and trailers.
func (m *inProcessMethod[Req, Resp]) call(ctx context.Context, req Req) (Resp, error) {
	resp, err := m.s.interceptor(ctx, req, &m.info, m.handler)
	out, _ := resp.(Resp)
	return out, err
}

// inProcessFiles is the FileService of the REST gateway: every method is
// the Server's own, through the interceptor chain. Embedding the Unsafe
// interface (not the Unimplemented struct) makes a method added to the
// service a compile error here until it is wired.
type inProcessFiles struct {
	pb.UnsafeFileServiceServer
	createUpload      *inProcessMethod[*pb.CreateUploadRequest, *pb.CreateUploadResponse]
	getUploadTarget   *inProcessMethod[*pb.GetUploadTargetRequest, *pb.GetUploadTargetResponse]
	completeUpload    *inProcessMethod[*pb.CompleteUploadRequest, *pb.CompleteUploadResponse]
	getFile           *inProcessMethod[*pb.GetFileRequest, *pb.GetFileResponse]
	listFiles         *inProcessMethod[*pb.ListFilesRequest, *pb.ListFilesResponse]
	updateFile        *inProcessMethod[*pb.UpdateFileRequest, *pb.UpdateFileResponse]
	deleteFile        *inProcessMethod[*pb.DeleteFileRequest, *pb.DeleteFileResponse]
	createDownloadUrl *inProcessMethod[*pb.CreateDownloadUrlRequest, *pb.CreateDownloadUrlResponse]
	checkName         *inProcessMethod[*pb.CheckNameRequest, *pb.CheckNameResponse]
	getUsage          *inProcessMethod[*pb.GetUsageRequest, *pb.GetUsageResponse]
	signParts         *inProcessMethod[*pb.SignPartsRequest, *pb.SignPartsResponse]
	listParts         *inProcessMethod[*pb.ListPartsRequest, *pb.ListPartsResponse]
	abortUpload       *inProcessMethod[*pb.AbortUploadRequest, *pb.AbortUploadResponse]
}

func newInProcessFiles(s *Server) *inProcessFiles {
	return &inProcessFiles{
		createUpload:      newInProcessMethod(s, s, pb.FileService_CreateUpload_FullMethodName, s.CreateUpload),
		getUploadTarget:   newInProcessMethod(s, s, pb.FileService_GetUploadTarget_FullMethodName, s.GetUploadTarget),
		completeUpload:    newInProcessMethod(s, s, pb.FileService_CompleteUpload_FullMethodName, s.CompleteUpload),
		getFile:           newInProcessMethod(s, s, pb.FileService_GetFile_FullMethodName, s.GetFile),
		listFiles:         newInProcessMethod(s, s, pb.FileService_ListFiles_FullMethodName, s.ListFiles),
		updateFile:        newInProcessMethod(s, s, pb.FileService_UpdateFile_FullMethodName, s.UpdateFile),
		deleteFile:        newInProcessMethod(s, s, pb.FileService_DeleteFile_FullMethodName, s.DeleteFile),
		createDownloadUrl: newInProcessMethod(s, s, pb.FileService_CreateDownloadUrl_FullMethodName, s.CreateDownloadUrl),
		checkName:         newInProcessMethod(s, s, pb.FileService_CheckName_FullMethodName, s.CheckName),
		getUsage:          newInProcessMethod(s, s, pb.FileService_GetUsage_FullMethodName, s.GetUsage),
		signParts:         newInProcessMethod(s, s, pb.FileService_SignParts_FullMethodName, s.SignParts),
		listParts:         newInProcessMethod(s, s, pb.FileService_ListParts_FullMethodName, s.ListParts),
		abortUpload:       newInProcessMethod(s, s, pb.FileService_AbortUpload_FullMethodName, s.AbortUpload),
	}
}

func (f *inProcessFiles) CreateUpload(ctx context.Context, req *pb.CreateUploadRequest) (*pb.CreateUploadResponse, error) {
	return f.createUpload.call(ctx, req)
}

func (f *inProcessFiles) GetUploadTarget(ctx context.Context, req *pb.GetUploadTargetRequest) (*pb.GetUploadTargetResponse, error) {
	return f.getUploadTarget.call(ctx, req)
}

func (f *inProcessFiles) CompleteUpload(ctx context.Context, req *pb.CompleteUploadRequest) (*pb.CompleteUploadResponse, error) {
	return f.completeUpload.call(ctx, req)
}

func (f *inProcessFiles) GetFile(ctx context.Context, req *pb.GetFileRequest) (*pb.GetFileResponse, error) {
	return f.getFile.call(ctx, req)
}

func (f *inProcessFiles) ListFiles(ctx context.Context, req *pb.ListFilesRequest) (*pb.ListFilesResponse, error) {
	return f.listFiles.call(ctx, req)
}

func (f *inProcessFiles) UpdateFile(ctx context.Context, req *pb.UpdateFileRequest) (*pb.UpdateFileResponse, error) {
	return f.updateFile.call(ctx, req)
}

func (f *inProcessFiles) DeleteFile(ctx context.Context, req *pb.DeleteFileRequest) (*pb.DeleteFileResponse, error) {
	return f.deleteFile.call(ctx, req)
}

func (f *inProcessFiles) CreateDownloadUrl(ctx context.Context, req *pb.CreateDownloadUrlRequest) (*pb.CreateDownloadUrlResponse, error) {
	return f.createDownloadUrl.call(ctx, req)
}

func (f *inProcessFiles) CheckName(ctx context.Context, req *pb.CheckNameRequest) (*pb.CheckNameResponse, error) {
	return f.checkName.call(ctx, req)
}

func (f *inProcessFiles) GetUsage(ctx context.Context, req *pb.GetUsageRequest) (*pb.GetUsageResponse, error) {
	return f.getUsage.call(ctx, req)
}

func (f *inProcessFiles) SignParts(ctx context.Context, req *pb.SignPartsRequest) (*pb.SignPartsResponse, error) {
	return f.signParts.call(ctx, req)
}

func (f *inProcessFiles) ListParts(ctx context.Context, req *pb.ListPartsRequest) (*pb.ListPartsResponse, error) {
	return f.listParts.call(ctx, req)
}

func (f *inProcessFiles) AbortUpload(ctx context.Context, req *pb.AbortUploadRequest) (*pb.AbortUploadResponse, error) {
	return f.abortUpload.call(ctx, req)
}

// inProcessAdmin is inProcessFiles for the AdminService.
type inProcessAdmin struct {
	pb.UnsafeAdminServiceServer
	createApiKey *inProcessMethod[*pb.CreateApiKeyRequest, *pb.CreateApiKeyResponse]
	listApiKeys  *inProcessMethod[*pb.ListApiKeysRequest, *pb.ListApiKeysResponse]
	revokeApiKey *inProcessMethod[*pb.RevokeApiKeyRequest, *pb.RevokeApiKeyResponse]
	listDead     *inProcessMethod[*pb.ListDeadLettersRequest, *pb.ListDeadLettersResponse]
	redeliver    *inProcessMethod[*pb.RedeliverDeadLetterRequest, *pb.RedeliverDeadLetterResponse]
	addDeny      *inProcessMethod[*pb.AddDenyEntryRequest, *pb.AddDenyEntryResponse]
	removeDeny   *inProcessMethod[*pb.RemoveDenyEntryRequest, *pb.RemoveDenyEntryResponse]
	listDeny     *inProcessMethod[*pb.ListDenyEntriesRequest, *pb.ListDenyEntriesResponse]
}

func newInProcessAdmin(s *Server, admin *adminServer) *inProcessAdmin {
	return &inProcessAdmin{
		createApiKey: newInProcessMethod(s, admin, pb.AdminService_CreateApiKey_FullMethodName, admin.CreateApiKey),
		listApiKeys:  newInProcessMethod(s, admin, pb.AdminService_ListApiKeys_FullMethodName, admin.ListApiKeys),
		revokeApiKey: newInProcessMethod(s, admin, pb.AdminService_RevokeApiKey_FullMethodName, admin.RevokeApiKey),
		listDead:     newInProcessMethod(s, admin, pb.AdminService_ListDeadLetters_FullMethodName, admin.ListDeadLetters),
		redeliver:    newInProcessMethod(s, admin, pb.AdminService_RedeliverDeadLetter_FullMethodName, admin.RedeliverDeadLetter),
		addDeny:      newInProcessMethod(s, admin, pb.AdminService_AddDenyEntry_FullMethodName, admin.AddDenyEntry),
		removeDeny:   newInProcessMethod(s, admin, pb.AdminService_RemoveDenyEntry_FullMethodName, admin.RemoveDenyEntry),
		listDeny:     newInProcessMethod(s, admin, pb.AdminService_ListDenyEntries_FullMethodName, admin.ListDenyEntries),
	}
}

func (a *inProcessAdmin) CreateApiKey(ctx context.Context, req *pb.CreateApiKeyRequest) (*pb.CreateApiKeyResponse, error) {
	return a.createApiKey.call(ctx, req)
}

func (a *inProcessAdmin) ListApiKeys(ctx context.Context, req *pb.ListApiKeysRequest) (*pb.ListApiKeysResponse, error) {
	return a.listApiKeys.call(ctx, req)
}

func (a *inProcessAdmin) RevokeApiKey(ctx context.Context, req *pb.RevokeApiKeyRequest) (*pb.RevokeApiKeyResponse, error) {
	return a.revokeApiKey.call(ctx, req)
}

func (a *inProcessAdmin) ListDeadLetters(ctx context.Context, req *pb.ListDeadLettersRequest) (*pb.ListDeadLettersResponse, error) {
	return a.listDead.call(ctx, req)
}

func (a *inProcessAdmin) RedeliverDeadLetter(ctx context.Context, req *pb.RedeliverDeadLetterRequest) (*pb.RedeliverDeadLetterResponse, error) {
	return a.redeliver.call(ctx, req)
}

func (a *inProcessAdmin) AddDenyEntry(ctx context.Context, req *pb.AddDenyEntryRequest) (*pb.AddDenyEntryResponse, error) {
	return a.addDeny.call(ctx, req)
}

func (a *inProcessAdmin) RemoveDenyEntry(ctx context.Context, req *pb.RemoveDenyEntryRequest) (*pb.RemoveDenyEntryResponse, error) {
	return a.removeDeny.call(ctx, req)
}

func (a *inProcessAdmin) ListDenyEntries(ctx context.Context, req *pb.ListDenyEntriesRequest) (*pb.ListDenyEntriesResponse, error) {
	return a.listDeny.call(ctx, req)
}

// newInProcessHealthCheck returns the health service's Check through the
// chain.
func newInProcessHealthCheck(s *Server) *inProcessMethod[*healthpb.HealthCheckRequest, *healthpb.HealthCheckResponse] {
	return newInProcessMethod(s, s.health, healthpb.Health_Check_FullMethodName, s.health.Check)
}

// inProcessHealthCheck is the health service's Check through the chain.
func (s *Server) inProcessHealthCheck(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return s.healthCheck.call(ctx, req)
}
