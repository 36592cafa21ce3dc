using System.Buffers;
using System.Net;
using System.Net.Http.Headers;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// An upload body streamed from another source (a blob read from another registry): it keeps the request's clock in step
/// with the bytes (each chunk allows the idle time again; the end of the body allows the header time), and knows which
/// side stopped. A read that fails is the source's fault: it surfaces as a <see cref="SourceBodyException"/> that names
/// the source, not as a failure of the registry the body was going to.
/// </summary>
internal sealed class StreamingBody : HttpContent
{
    private readonly Stream _source;
    private readonly long _length;
    private readonly Func<string, MultiArchException> _sourceFailure;
    private CancellationTokenSource? _clock;
    private TimeSpan _idle;
    private TimeSpan _headers;
    private volatile int _state;

    /// <param name="sourceFailure">The coded error for a source that failed, given the reason.</param>
    public StreamingBody(Stream source, long length, Func<string, MultiArchException> sourceFailure)
    {
        _source = source;
        _length = length;
        _sourceFailure = sourceFailure;
        Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        Headers.ContentLength = length;
    }

    public enum Phase
    {
        NotStarted,
        Reading,
        Writing,
        Done,
    }

    /// <summary>Where the transfer is: waiting on the source (<see cref="Phase.Reading"/>) or on the connection (<see cref="Phase.Writing"/>).</summary>
    public Phase State => (Phase)_state;

    /// <summary>Hands the request's clock to the body: <paramref name="idle"/> per chunk, then <paramref name="headers"/> for the answer.</summary>
    public void Watch(CancellationTokenSource clock, TimeSpan idle, TimeSpan headers)
    {
        _clock = clock;
        _idle = idle;
        _headers = headers;
    }

    public MultiArchException SourceFailure(string reason) => _sourceFailure(reason);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (true)
            {
                Enter(Phase.Reading, _idle);
                int read;
                try
                {
                    read = await _source.ReadAsync(buffer, cancellationToken);
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException)
                {
                    throw new SourceBodyException(_sourceFailure(ex.Message), ex);
                }

                if (read == 0)
                {
                    break;
                }

                Enter(Phase.Writing, _idle);
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            Enter(Phase.Done, _headers);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    private void Enter(Phase phase, TimeSpan allowance)
    {
        _state = (int)phase;
        try
        {
            _clock?.CancelAfter(allowance);
        }
        catch (ObjectDisposedException)
        {
            // The registry answered before the body was through; the request is over.
        }
    }
}

/// <summary>The source of a streamed body failed; <see cref="Error"/> names it.</summary>
internal sealed class SourceBodyException(MultiArchException error, Exception inner) : IOException(error.Message, inner)
{
    public MultiArchException Error { get; } = error;
}
