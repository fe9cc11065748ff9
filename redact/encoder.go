package redact

import (
	"regexp"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// secretParam finds name=value pairs after ? or & anywhere in a log line
// (URLs inside error messages, say), so a secret query value is hidden even
// where nobody thought to call Query.
var secretParam = regexp.MustCompile(`([?&])([A-Za-z0-9_.\-\[\]]+)=([^&#\s"\\]*)`)

// Encoder wraps enc so that every line it encodes is redacted: card numbers
// masked and secret query values replaced, whatever field they are in.
func Encoder(enc zapcore.Encoder) zapcore.Encoder { return &encoder{Encoder: enc} }

type encoder struct {
	zapcore.Encoder
}

var pool = buffer.NewPool()

func (e *encoder) Clone() zapcore.Encoder { return &encoder{Encoder: e.Encoder.Clone()} }

func (e *encoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	buf, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	line := Bytes(buf.Bytes())
	if !secretParam.Match(line) {
		return buf, nil
	}
	out := pool.Get()
	out.Write(secretParam.ReplaceAllFunc(line, func(m []byte) []byte {
		sub := secretParam.FindSubmatch(m)
		if !IsSecretName(string(sub[2])) {
			return m
		}
		return append(append(append([]byte{}, sub[1]...), sub[2]...), "="+Redacted...)
	}))
	buf.Free()
	return out, nil
}
