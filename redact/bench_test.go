package redact

import (
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkAccessLine: one access-log line as rampart writes it for an
// ordinary request, through the redacting encoder.
func BenchmarkAccessLine(b *testing.B) {
	enc := Encoder(zapcore.NewJSONEncoder(EncoderConfig(zap.NewProductionEncoderConfig())))
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel)).Named("access")
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request",
			zap.String("request_id", "fkbjmepdgoalhcinfkbjmepdgoalhcin"),
			zap.String("remote", "192.0.2.7:55512"),
			zap.String("host", "shop.example.com"),
			zap.String("method", "GET"),
			zap.String("path", "/products/1234/reviews"),
			zap.String("query", "?page=2&sort=newest&utm_source=mail%20campaign"),
			zap.Int("status", 200),
			zap.Int64("bytes_in", 0),
			zap.Int64("bytes_out", 5123),
			zap.Duration("duration", 1234567*time.Nanosecond),
			zap.Duration("upstream_duration", 987654*time.Nanosecond),
			zap.String("tls", "TLS 1.3"),
			zap.String("proto", "HTTP/2.0"),
			zap.String("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.8078.73 Safari/537.36"),
		)
	}
}
