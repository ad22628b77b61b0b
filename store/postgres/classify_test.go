package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/presignd/presignd/store"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"a unique violation is ErrAlreadyExists", &pgconn.PgError{Code: "23505"}, store.ErrAlreadyExists},
		{"a unique violation of the file ID is ErrAlreadyExists", &pgconn.PgError{Code: "23505", ConstraintName: "files_pkey"}, store.ErrAlreadyExists},
		{"a unique violation of the request ID is ErrAlreadyExists", &pgconn.PgError{Code: "23505", ConstraintName: "files_tenant_request_id"}, store.ErrAlreadyExists},
		{"a unique violation of the display-name index is ErrNameTaken", &pgconn.PgError{Code: "23505", ConstraintName: "files_name_taken"}, store.ErrNameTaken},
		{"another error naming the display-name index is no sentinel", &pgconn.PgError{Code: "23514", ConstraintName: "files_name_taken"}, nil},
		{"an administrator shutting the server down is ErrUnavailable", &pgconn.PgError{Code: "57P01"}, store.ErrUnavailable},
		{"a server crash is ErrUnavailable", &pgconn.PgError{Code: "57P02"}, store.ErrUnavailable},
		{"a server still starting is ErrUnavailable", &pgconn.PgError{Code: "57P03"}, store.ErrUnavailable},
		{"a connection exception is ErrUnavailable", &pgconn.PgError{Code: "08006"}, store.ErrUnavailable},
		{"too many connections is ErrUnavailable", &pgconn.PgError{Code: "53300"}, store.ErrUnavailable},
		{"a refused connection is ErrUnavailable", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"a connection dropped mid-reply is ErrUnavailable", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"a closed pool is ErrUnavailable", puddle.ErrClosedPool, store.ErrUnavailable},
		{"a syntax error is no sentinel", &pgconn.PgError{Code: "42601"}, nil},
		{"a check violation is no sentinel", &pgconn.PgError{Code: "23514"}, nil},
		{"no rows is no sentinel", pgx.ErrNoRows, nil},
		{"a cancelled context stays a context error", fmt.Errorf("query: %w", context.Canceled), nil},
		{"a deadline on a network read stays a context error", &net.OpError{Op: "read", Err: context.DeadlineExceeded}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Fatalf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
			wrapped := fail("op", tt.err)
			if tt.want != nil && !errors.Is(wrapped, tt.want) {
				t.Fatalf("fail(%v) = %v, does not match %v", tt.err, wrapped, tt.want)
			}
			if tt.want == nil && !errors.Is(wrapped, tt.err) {
				t.Fatalf("fail(%v) = %v, lost the original error", tt.err, wrapped)
			}
		})
	}
}
