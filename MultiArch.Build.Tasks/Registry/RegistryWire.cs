using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// The end of the send pipeline: one <see cref="HttpClient"/>, a bounded number of requests in flight, and the clock.
/// The header timeout starts once a request has a slot (waiting for one is not the registry's time); a streamed body
/// moves the clock itself (<see cref="StreamingBody"/>). Counts every request and records which hosts answered.
/// </summary>
internal sealed class RegistryWire : IRegistrySender, IDisposable
{
    /// <summary>How many times a request was sent, kept on the last message, for the error that ends the retries.</summary>
    public static readonly HttpRequestOptionsKey<int> Attempts = new("MultiArch.Attempts");

    private readonly RegistrySettings _settings;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _inFlight;
    private int _requestCount;

    public RegistryWire(RegistrySettings settings)
    {
        _settings = settings;
        _inFlight = new SemaphoreSlim(Math.Max(1, settings.MaxConcurrency));
        LoopbackSchemeHandler.Assume(settings);
        var transport = settings.TransportFactory?.Invoke() ?? CreateTransport(settings);
        _http = new HttpClient(new LoopbackSchemeHandler(settings, transport, () => Interlocked.Increment(ref _requestCount)), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(settings.UserAgent);
    }

    /// <summary>Requests sent so far (registry and token service).</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    /// <summary>The URL a request goes to: its registry's scheme (learned, else HTTPS) unless the path is absolute.</summary>
    public Uri UriOf(RegistryRequest request) => request.UriFor(_settings.State.GetScheme(request.Registry) ?? Uri.UriSchemeHttps);

    public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var uri = UriOf(request);
        using var message = new HttpRequestMessage(request.Method, uri);
        foreach (var accept in request.Accept)
        {
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        }

        message.Content = request.Content?.Invoke();
        message.Headers.Authorization = request.Authorization;
        var stopwatch = Stopwatch.StartNew();
        var response = await SendMessageAsync(message, cancellationToken);
        _settings.Log.Message(LogLevel.Low, $"MultiArch: {request.Method} {RegistryException.Redact(uri)}{(request.IsRedirectHop ? " (redirect)" : string.Empty)} -> {(int)response.StatusCode} ({stopwatch.ElapsedMilliseconds} ms)");
        return response;
    }

    /// <summary>Sends one message as it is (token requests, and every registry request in the end).</summary>
    public async Task<HttpResponseMessage> SendMessageAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await _inFlight.WaitAsync(cancellationToken);
        var body = message.Content as StreamingBody;
        PreferHttp2(message);
        try
        {
            timeout.CancelAfter(_settings.RequestTimeout);
            body?.Watch(timeout, _settings.BodyIdleTimeout, _settings.RequestTimeout);
            Interlocked.Increment(ref _requestCount);
            var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            _settings.State.MarkAnswered(message.RequestUri!.Authority);
            return response;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (body is { State: StreamingBody.Phase.Reading })
            {
                throw body.SourceFailure($"no bytes came for {Seconds(_settings.BodyIdleTimeout)}");
            }

            if (body is { State: StreamingBody.Phase.Writing })
            {
                throw new TimeoutException($"{Seconds(_settings.BodyIdleTimeout)} with no bytes taken while sending the body");
            }

            // Either the response headers did not come in time (our timer), or the connection was not made in time
            // (SocketsHttpHandler.ConnectTimeout: a cancellation with a TimeoutException inside).
            throw timeout.IsCancellationRequested || ex.InnerException is not TimeoutException
                ? new TimeoutException($"{Seconds(_settings.RequestTimeout)} waiting for the response headers")
                : new TimeoutException($"{Seconds(_settings.ConnectTimeout)} waiting for a connection", ex);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>
    /// Over TLS, HTTP/2 where the registry offers it in the handshake (ALPN): the requests side by side share one
    /// connection and one handshake instead of one each. Plain HTTP, and a registry that offers only HTTP/1.1, keep HTTP/1.1.
    /// </summary>
    public static void PreferHttp2(HttpRequestMessage message)
    {
        if (message.RequestUri?.Scheme == Uri.UriSchemeHttps)
        {
            message.Version = HttpVersion.Version20;
            message.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
        }
    }

    public static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(time.TotalSeconds < 10 ? "0.#" : "0", CultureInfo.InvariantCulture) + " s";

    public void Dispose()
    {
        _http.Dispose();
        _inFlight.Dispose();
    }

    private static SocketsHttpHandler CreateTransport(RegistrySettings settings) => new()
    {
        ConnectTimeout = settings.ConnectTimeout,
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = true,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = Math.Max(2, settings.MaxConcurrency),

        // A registry that allows fewer HTTP/2 streams per connection than our parallelism gets a second connection
        // rather than a queue (which would add a round trip).
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),

        // No trace-context headers to registries (they would carry the build's activity ids), and no diagnostics handler
        // to set up on the first request of the process.
        ActivityHeadersPropagator = null,
        SslOptions = new SslClientAuthenticationOptions
        {
            // A certificate error is accepted only for hosts the user listed as insecure (and localhost).
            RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                errors == SslPolicyErrors.None ||
                (sender is SslStream stream && settings.IsInsecureHost(stream.TargetHostName)),
        },
    };
}
