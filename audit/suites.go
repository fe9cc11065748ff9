package audit

// knownSuites are the TLS 1.2-and-earlier suites the probe asks about, one at
// a time, with what the grader needs to know of each. Go's TLS client cannot
// offer most of them, so the probe sends its own ClientHello.
var knownSuites = map[uint16]Suite{
	0xc02b: {Name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Bits: 128, ForwardSecrecy: true, AEAD: true},
	0xc02c: {Name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0xc02f: {Name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Bits: 128, ForwardSecrecy: true, AEAD: true},
	0xc030: {Name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0xcca9: {Name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0xcca8: {Name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0x009e: {Name: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", Bits: 128, ForwardSecrecy: true, AEAD: true},
	0x009f: {Name: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0xccaa: {Name: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0xc009: {Name: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Bits: 128, ForwardSecrecy: true},
	0xc00a: {Name: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Bits: 256, ForwardSecrecy: true},
	0xc013: {Name: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Bits: 128, ForwardSecrecy: true},
	0xc014: {Name: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Bits: 256, ForwardSecrecy: true},
	0xc023: {Name: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Bits: 128, ForwardSecrecy: true},
	0xc024: {Name: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", Bits: 256, ForwardSecrecy: true},
	0xc027: {Name: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Bits: 128, ForwardSecrecy: true},
	0xc028: {Name: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", Bits: 256, ForwardSecrecy: true},
	0x0033: {Name: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", Bits: 128, ForwardSecrecy: true},
	0x0039: {Name: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", Bits: 256, ForwardSecrecy: true},
	0x009c: {Name: "TLS_RSA_WITH_AES_128_GCM_SHA256", Bits: 128, AEAD: true},
	0x009d: {Name: "TLS_RSA_WITH_AES_256_GCM_SHA384", Bits: 256, AEAD: true},
	0x002f: {Name: "TLS_RSA_WITH_AES_128_CBC_SHA", Bits: 128},
	0x0035: {Name: "TLS_RSA_WITH_AES_256_CBC_SHA", Bits: 256},
	0x003c: {Name: "TLS_RSA_WITH_AES_128_CBC_SHA256", Bits: 128},
	0x003d: {Name: "TLS_RSA_WITH_AES_256_CBC_SHA256", Bits: 256},
	0xc012: {Name: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", Bits: 112, ForwardSecrecy: true, Block64: true},
	0x000a: {Name: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Bits: 112, Block64: true},
	0xc011: {Name: "TLS_ECDHE_RSA_WITH_RC4_128_SHA", Bits: 128, ForwardSecrecy: true, RC4: true},
	0xc007: {Name: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", Bits: 128, ForwardSecrecy: true, RC4: true},
	0x0005: {Name: "TLS_RSA_WITH_RC4_128_SHA", Bits: 128, RC4: true},
	0x0004: {Name: "TLS_RSA_WITH_RC4_128_MD5", Bits: 128, RC4: true},
	0x0009: {Name: "TLS_RSA_WITH_DES_CBC_SHA", Bits: 56, Block64: true},
	0x0003: {Name: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", Bits: 40, Export: true, RC4: true},
	0x0008: {Name: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", Bits: 40, Export: true, Block64: true},
	0x0002: {Name: "TLS_RSA_WITH_NULL_SHA", Bits: 0},
	0x0001: {Name: "TLS_RSA_WITH_NULL_MD5", Bits: 0},
	0x003b: {Name: "TLS_RSA_WITH_NULL_SHA256", Bits: 0},
}

// tls13Suites are the TLS 1.3 suites; all are AEAD with forward secrecy.
var tls13Suites = map[uint16]Suite{
	0x1301: {Name: "TLS_AES_128_GCM_SHA256", Bits: 128, ForwardSecrecy: true, AEAD: true},
	0x1302: {Name: "TLS_AES_256_GCM_SHA384", Bits: 256, ForwardSecrecy: true, AEAD: true},
	0x1303: {Name: "TLS_CHACHA20_POLY1305_SHA256", Bits: 256, ForwardSecrecy: true, AEAD: true},
}
