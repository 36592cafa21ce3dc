using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Saves the TLS probe for a registry on this machine that is listed as insecure (or is <c>localhost</c>): such a
/// registry nearly always speaks plain HTTP (<c>docker run registry</c>, a test registry), so the first request to
/// it goes out as plain HTTP instead of first failing a TLS handshake. When that works, the build remembers plain
/// HTTP for the registry (the client's per-build scheme cache) and every later request is plain HTTP from the start.
/// When the registry turns out to speak TLS (a Go or nginx server answers 400 "…HTTP request to an HTTPS server…", or
/// the connection is closed), the request goes out over TLS as it was, and TLS is remembered instead.
/// </summary>
/// <remarks>
/// Only requests without a body are tried this way (the first request to a registry is a GET or HEAD in every
/// operation); only loopback addresses and <c>localhost</c> qualify, so nothing crosses the network in plain text
/// that would not have anyway: a registry elsewhere keeps the TLS-first order, and the fallback in the client.
/// </remarks>
internal sealed class LoopbackSchemeHandler : DelegatingHandler
{
    private readonly RegistrySettings _settings;
    private readonly Action _countRequest;

    /// <param name="countRequest">Called for the one extra request a wrong guess costs, so the client's count stays true.</param>
    public LoopbackSchemeHandler(RegistrySettings settings, HttpMessageHandler inner, Action countRequest)
        : base(inner)
    {
        _settings = settings;
        _countRequest = countRequest;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri;
        if (uri is null || uri.Scheme != Uri.UriSchemeHttps || request.Content is not null || !IsLoopback(uri) || !_settings.IsInsecure(uri.Authority))
        {
            return await base.SendAsync(request, cancellationToken);
        }

        var known = _settings.AuthCache.GetScheme(uri.Authority);
        if (known == Uri.UriSchemeHttps)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        using var plain = PlainCopy(request);
        HttpResponseMessage? response = null;
        try
        {
            response = await base.SendAsync(plain, cancellationToken);
        }
        catch (HttpRequestException ex) when (known is null && ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse)
        {
            // Not an HTTP server on the other end (a TLS-only server that hung up): TLS it is.
        }

        if (response is not null && (known is not null || !await SpeaksTlsAsync(response, cancellationToken)))
        {
            _settings.AuthCache.SetScheme(uri.Authority, Uri.UriSchemeHttp);
            return response;
        }

        response?.Dispose();
        _countRequest();
        _settings.Log.Message(LogLevel.Low, $"MultiArch: '{uri.Authority}' answered plain HTTP as a TLS server does; using TLS.");
        _settings.AuthCache.SetScheme(uri.Authority, Uri.UriSchemeHttps);
        return await base.SendAsync(request, cancellationToken);
    }

    /// <summary><c>localhost</c> or a loopback address (127.0.0.0/8, ::1); names are not resolved.</summary>
    internal static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out var address) && IPAddress.IsLoopback(address));

    private static HttpRequestMessage PlainCopy(HttpRequestMessage request)
    {
        var copy = new HttpRequestMessage(request.Method, new UriBuilder(request.RequestUri!) { Scheme = Uri.UriSchemeHttp, Port = request.RequestUri!.Port }.Uri)
        {
            Version = request.Version,
            VersionPolicy = request.VersionPolicy,
        };
        foreach (var (name, values) in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(name, values);
        }

        return copy;
    }

    /// <summary>A 400 that says the server wanted TLS (Go: "Client sent an HTTP request to an HTTPS server", nginx: "The plain HTTP request was sent to HTTPS port").</summary>
    private static async Task<bool> SpeaksTlsAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.StatusCode != HttpStatusCode.BadRequest)
        {
            return false;
        }

        try
        {
            await response.Content.LoadIntoBufferAsync(RegistryClient.MaxErrorBytes);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return body.Contains("HTTPS", StringComparison.OrdinalIgnoreCase);
        }
        catch (HttpRequestException)
        {
            return false; // a large or broken body: an ordinary 400 of a plain-HTTP registry, left to the caller
        }
    }
}
