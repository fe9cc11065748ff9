package redact

import (
	"bytes"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

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
	if !bytes.ContainsAny(line, "?&") {
		return buf, nil
	}
	out := pool.Get()
	hideSecretParams(out, line)
	buf.Free()
	return out, nil
}

// hideSecretParams copies line to out with the value of every name=value
// pair that follows a ? or & (a query string, or a URL inside an error
// message) replaced when the name marks a secret. A hand-written scanner:
// it runs on every log line, and a regular expression cost a tenth of the
// request path's CPU.
func hideSecretParams(out *buffer.Buffer, line []byte) {
	for i := 0; i < len(line); {
		c := line[i]
		out.AppendByte(c)
		i++
		if c != '?' && c != '&' {
			continue
		}
		j := i
		for j < len(line) && isNameByte(line[j]) {
			j++
		}
		if j == i || j >= len(line) || line[j] != '=' {
			continue
		}
		k := j + 1
		for k < len(line) && !isValueEnd(line[k]) {
			k++
		}
		out.Write(line[i : j+1])
		if IsSecretName(string(line[i:j])) {
			out.AppendString(Redacted)
		} else {
			out.Write(line[j+1 : k])
		}
		i = k
	}
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == '[' || c == ']'
}

func isValueEnd(c byte) bool {
	return c == '&' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '"' || c == '\\'
}
