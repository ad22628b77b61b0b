package server

import (
	"context"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/presignd/presignd/gen/presignd/v1"
)

// inProcessCall runs handler on req through s's interceptor chain as the
// gRPC server would for method, for a caller in the same process (the
// REST gateway): no transport, no encoding. The caller's context must
// carry what a gRPC call's does: incoming metadata, the peer and a
// grpc.ServerTransportStream for response headers and trailers.
func inProcessCall[Req, Resp any](ctx context.Context, s *Server, service any, method string, req Req, handler func(context.Context, Req) (Resp, error)) (Resp, error) {
	info := &grpc.UnaryServerInfo{Server: service, FullMethod: method}
	resp, err := s.interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return handler(ctx, req.(Req))
	})
	out, _ := resp.(Resp)
	return out, err
}

// inProcessFiles is the FileService of the REST gateway: every method is
// the Server's own, through the interceptor chain. Embedding the Unsafe
// interface (not the Unimplemented struct) makes a method added to the
// service a compile error here until it is wired.
type inProcessFiles struct {
	pb.UnsafeFileServiceServer
	s *Server
}

func (f inProcessFiles) CreateUpload(ctx context.Context, req *pb.CreateUploadRequest) (*pb.CreateUploadResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_CreateUpload_FullMethodName, req, f.s.CreateUpload)
}

func (f inProcessFiles) CompleteUpload(ctx context.Context, req *pb.CompleteUploadRequest) (*pb.CompleteUploadResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_CompleteUpload_FullMethodName, req, f.s.CompleteUpload)
}

func (f inProcessFiles) GetFile(ctx context.Context, req *pb.GetFileRequest) (*pb.GetFileResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_GetFile_FullMethodName, req, f.s.GetFile)
}

func (f inProcessFiles) ListFiles(ctx context.Context, req *pb.ListFilesRequest) (*pb.ListFilesResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_ListFiles_FullMethodName, req, f.s.ListFiles)
}

func (f inProcessFiles) UpdateFile(ctx context.Context, req *pb.UpdateFileRequest) (*pb.UpdateFileResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_UpdateFile_FullMethodName, req, f.s.UpdateFile)
}

func (f inProcessFiles) DeleteFile(ctx context.Context, req *pb.DeleteFileRequest) (*pb.DeleteFileResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_DeleteFile_FullMethodName, req, f.s.DeleteFile)
}

func (f inProcessFiles) CreateDownloadUrl(ctx context.Context, req *pb.CreateDownloadUrlRequest) (*pb.CreateDownloadUrlResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_CreateDownloadUrl_FullMethodName, req, f.s.CreateDownloadUrl)
}

func (f inProcessFiles) CheckName(ctx context.Context, req *pb.CheckNameRequest) (*pb.CheckNameResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_CheckName_FullMethodName, req, f.s.CheckName)
}

func (f inProcessFiles) GetUsage(ctx context.Context, req *pb.GetUsageRequest) (*pb.GetUsageResponse, error) {
	return inProcessCall(ctx, f.s, f.s, pb.FileService_GetUsage_FullMethodName, req, f.s.GetUsage)
}

// inProcessAdmin is inProcessFiles for the AdminService.
type inProcessAdmin struct {
	pb.UnsafeAdminServiceServer
	s     *Server
	admin *adminServer
}

func (a inProcessAdmin) CreateApiKey(ctx context.Context, req *pb.CreateApiKeyRequest) (*pb.CreateApiKeyResponse, error) {
	return inProcessCall(ctx, a.s, a.admin, pb.AdminService_CreateApiKey_FullMethodName, req, a.admin.CreateApiKey)
}

func (a inProcessAdmin) ListApiKeys(ctx context.Context, req *pb.ListApiKeysRequest) (*pb.ListApiKeysResponse, error) {
	return inProcessCall(ctx, a.s, a.admin, pb.AdminService_ListApiKeys_FullMethodName, req, a.admin.ListApiKeys)
}

func (a inProcessAdmin) RevokeApiKey(ctx context.Context, req *pb.RevokeApiKeyRequest) (*pb.RevokeApiKeyResponse, error) {
	return inProcessCall(ctx, a.s, a.admin, pb.AdminService_RevokeApiKey_FullMethodName, req, a.admin.RevokeApiKey)
}

// inProcessHealthCheck is the health service's Check through the chain.
func (s *Server) inProcessHealthCheck(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return inProcessCall(ctx, s, s.health, healthpb.Health_Check_FullMethodName, req, s.health.Check)
}
