package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPC: a grpc-go client speaks to grpc-go servers through rampart, one
// reached over h2c (HTTP/2 without TLS) and one over TLS: a unary call with
// OK and with an error status, and a server stream whose messages arrive as
// the server sends them. grpc's own health service serves as the app: it has
// both kinds of call and needs no generated code of the test's own.
func TestGRPC(t *testing.T) {
	const httpsAddr, h2cAddr, tlsAddr = "127.0.0.1:18860", "127.0.0.1:18861", "127.0.0.1:18862"
	dir := t.TempDir()

	serveHealth := func(addr string, opts ...grpc.ServerOption) *health.Server {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(opts...)
		hs := health.NewServer()
		healthpb.RegisterHealthServer(srv, hs)
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		return hs
	}
	plainHealth := serveHealth(h2cAddr)
	certFile, keyFile := selfSignedFiles(t, dir, "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsHealth := serveHealth(tlsAddr, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}})))

	conf := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: ""
upstream-ca: `+certFile+`
sites:
  - hosts: [h2c.test]
    routes: [{upstream: "h2c://`+h2cAddr+`"}]
  - hosts: [tls.test]
    routes: [{upstream: "https://`+tlsAddr+`"}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))

	for _, tt := range []struct {
		name string
		app  *health.Server
	}{{"h2c.test", plainHealth}, {"tls.test", tlsHealth}} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := grpc.NewClient("passthrough:///"+httpsAddr,
				grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: tt.name})),
				grpc.WithAuthority(tt.name))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := healthpb.NewHealthClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// Unary, OK.
			res, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Check: %v, %v; want SERVING", res, err)
			}
			// Unary, an error status in the trailers (a trailers-only answer).
			_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
			if status.Code(err) != codes.NotFound {
				t.Errorf("Check of an unknown service: %v; want code NotFound", err)
			}
			// Server streaming: each change arrives as it is made.
			tt.app.SetServingStatus("shop.Checkout", healthpb.HealthCheckResponse_NOT_SERVING)
			stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "shop.Checkout"})
			if err != nil {
				t.Fatal(err)
			}
			want := []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING}
			for i, w := range want {
				msg, err := stream.Recv()
				if err != nil || msg.Status != w {
					t.Fatalf("Watch message %d: %v, %v; want %v", i, msg, err, w)
				}
				if i+1 < len(want) {
					tt.app.SetServingStatus("shop.Checkout", want[i+1])
				}
			}
			// The client ends the stream.
			cancel()
			if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
				t.Errorf("Watch after cancel: %v; want code Canceled", err)
			}
		})
	}
}
