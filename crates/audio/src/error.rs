//! The crate's single error type.

/// Everything that can go wrong in the audio crate.
///
/// The variants are exact so the application can map them: `UnsupportedFormat` is a 415, the
/// malformed-file variants are 400 or 422, the rest are programming or configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    /// The bytes are neither a RIFF/WAVE file nor an MPEG Layer III stream.
    #[error("unsupported audio format: expected WAV or MP3")]
    UnsupportedFormat,
    /// The file is a WAV whose sample encoding is not integer PCM (8, 16, 24, 32 bit) or
    /// 32-bit float.
    #[error("unsupported WAV encoding: {0}")]
    UnsupportedEncoding(String),
    /// The file ends before the length its header announces.
    #[error("the audio file is truncated")]
    Truncated,
    /// A header field is invalid or inconsistent.
    #[error("invalid {format} header: {reason}")]
    InvalidHeader {
        /// Which container the header belongs to, such as `"WAV"`.
        format: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A sample rate outside the supported range, or one that does not fit the operation.
    #[error("unsupported sample rate: {0} Hz")]
    UnsupportedSampleRate(u32),
    /// A channel count the operation cannot handle.
    #[error("unsupported channel count: {0}")]
    UnsupportedChannels(u16),
    /// The MP3 stream could not be decoded.
    #[error("could not decode MP3: {0}")]
    Mp3Decode(String),
    /// Writing a WAV file failed.
    #[error("could not write WAV: {0}")]
    WavWrite(String),
    /// PCM16 needs two bytes per sample; an odd byte count cannot be split into samples.
    #[error("PCM16 data has an odd length of {0} bytes")]
    OddByteLength(usize),
    /// A frame handed to a frame-based component has the wrong number of samples.
    #[error("frame has {actual} samples, expected {expected}")]
    FrameLength {
        /// The number of samples the component works on.
        expected: usize,
        /// The number of samples it was given.
        actual: usize,
    },
    /// The sample rate cannot be cut into whole frames of the requested duration.
    #[error("{sample_rate_hz} Hz cannot be cut into whole {frame_ms} ms frames")]
    FrameDuration {
        /// The sample rate.
        sample_rate_hz: u32,
        /// The requested frame duration.
        frame_ms: u32,
    },
    /// A configuration value is out of range; the message names it.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The resampling library reported an error.
    #[error("resampling failed: {0}")]
    Resample(String),
}
