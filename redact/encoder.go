package redact

import (
	"time"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// Encoder wraps enc so that every line it encodes is redacted by the rules
// of this package, whatever field the data is in.
func Encoder(enc zapcore.Encoder) zapcore.Encoder { return &encoder{Encoder: enc} }

type encoder struct {
	zapcore.Encoder
}

func (e *encoder) Clone() zapcore.Encoder { return &encoder{Encoder: e.Encoder.Clone()} }

func (e *encoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	buf, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	sc := scratchPool.Get().(*scratch)
	if sc.redact(buf.Bytes()) {
		buf.Reset()
		_, _ = buf.Write(sc.out)
	}
	putScratch(sc)
	return buf, nil
}

// EncoderConfig returns cfg with times and durations written so that no
// number rampart logs of its own can look like a card number, and be
// masked: a time as RFC 3339 with nanoseconds (digit runs of at most 11,
// since ':' separates no card number), a duration as seconds rounded to the
// microsecond (13 digits only past 115 days). Epoch-seconds times with
// nanoseconds, 17 digits joined by a dot, would be masked as often as not.
func EncoderConfig(cfg zapcore.EncoderConfig) zapcore.EncoderConfig {
	cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	cfg.EncodeDuration = microsecondSeconds
	return cfg
}

func microsecondSeconds(d time.Duration, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendFloat64(float64(d.Round(time.Microsecond)) / float64(time.Second))
}
