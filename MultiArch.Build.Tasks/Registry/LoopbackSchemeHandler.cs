using System.Collections.Concurrent;
using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Saves the TLS probe for a registry on this machine that is listed as insecure (or is <c>localhost</c>): such a
/// registry nearly always speaks plain HTTP (<c>docker run registry</c>, a test registry), so it is spoken to in plain
/// HTTP from the first request instead of first failing a TLS handshake. <see cref="Assume"/> records that guess in the
/// build's scheme cache for the registries listed; the handler checks the first answer, and when the registry turns out
/// to speak TLS (a Go or nginx server answers 400 "…HTTP request to an HTTPS server…", or hangs up), sends the request
/// again over TLS and remembers TLS instead.
/// </summary>
/// <remarks>
/// Only loopback addresses and <c>localhost</c> qualify, so nothing crosses the network in plain text that would not
/// have anyway; a registry elsewhere keeps the TLS-first order and the client's fallback. A request with a body is
/// never sent twice: the first request to a registry is a GET or HEAD in every operation.
/// </remarks>
internal sealed class LoopbackSchemeHandler : DelegatingHandler
{
    private readonly RegistrySettings _settings;
    private readonly Action _countRequest;
    private readonly ConcurrentDictionary<string, byte> _confirmed = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="countRequest">Called for the one extra request a wrong guess costs, so the client's count stays true.</param>
    public LoopbackSchemeHandler(RegistrySettings settings, HttpMessageHandler inner, Action countRequest)
        : base(inner)
    {
        _settings = settings;
        _countRequest = countRequest;
    }

    /// <summary>Records plain HTTP, until shown otherwise, for every loopback registry listed as insecure whose scheme is not known yet.</summary>
    public static void Assume(RegistrySettings settings)
    {
        foreach (var registry in settings.InsecureRegistries)
        {
            if (settings.State.GetScheme(registry) is null && IsLoopbackHost(RegistrySettings.HostOf(registry)))
            {
                settings.State.SetScheme(registry, Uri.UriSchemeHttp);
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri;
        if (uri is null || !IsLoopbackHost(uri.IdnHost) || !_settings.IsInsecure(uri.Authority))
        {
            return await base.SendAsync(request, cancellationToken);
        }

        var confirmed = _confirmed.ContainsKey(uri.Authority);
        if (uri.Scheme == Uri.UriSchemeHttps)
        {
            // localhost (never listed), or built before the scheme was known: plain HTTP first, unless TLS is known.
            if (_settings.State.GetScheme(uri.Authority) == Uri.UriSchemeHttps || request.Content is not null)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            return confirmed
                ? await base.SendAsync(WithScheme(request, Uri.UriSchemeHttp), cancellationToken)
                : await SendPlainFirstAsync(WithScheme(request, Uri.UriSchemeHttp), request, cancellationToken);
        }

        return confirmed
            ? await base.SendAsync(request, cancellationToken)
            : await SendPlainFirstAsync(request, request.Content is null ? WithScheme(request, Uri.UriSchemeHttps) : null, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendPlainFirstAsync(HttpRequestMessage plain, HttpRequestMessage? overTls, CancellationToken cancellationToken)
    {
        var authority = plain.RequestUri!.Authority;
        HttpResponseMessage? response = null;
        try
        {
            response = await base.SendAsync(plain, cancellationToken);
        }
        catch (HttpRequestException ex) when (overTls is not null && ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse)
        {
            // Not an HTTP server on the other end (a TLS-only server that hung up): TLS it is.
        }

        if (response is not null && !await SpeaksTlsAsync(response, cancellationToken))
        {
            _settings.State.SetScheme(authority, Uri.UriSchemeHttp);
            _confirmed.TryAdd(authority, 0);
            return response;
        }

        _settings.Log.Message(LogLevel.Low, $"MultiArch: '{authority}' answered plain HTTP as a TLS server does; using TLS.");
        _settings.State.SetScheme(authority, Uri.UriSchemeHttps);
        if (overTls is null)
        {
            return response!; // a body cannot be sent twice: this request fails, the next one goes over TLS
        }

        response?.Dispose();
        _countRequest();
        return await base.SendAsync(overTls, cancellationToken);
    }

    /// <summary><c>localhost</c> or a loopback address (127.0.0.0/8, ::1); names are not resolved.</summary>
    internal static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private static HttpRequestMessage WithScheme(HttpRequestMessage request, string scheme)
    {
        var copy = new HttpRequestMessage(request.Method, new UriBuilder(request.RequestUri!) { Scheme = scheme, Port = request.RequestUri!.Port }.Uri);
        RegistryWire.PreferHttp2(copy);
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
#if NET9_0_OR_GREATER
            await response.Content.LoadIntoBufferAsync(HttpBodies.MaxErrorBytes, cancellationToken); // the tool's net10.0 build
#else
            await response.Content.LoadIntoBufferAsync(HttpBodies.MaxErrorBytes);
#endif
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return body.Contains("HTTPS", StringComparison.OrdinalIgnoreCase);
        }
        catch (HttpRequestException)
        {
            return false; // a large or broken body: an ordinary 400 of a plain-HTTP registry, left to the caller
        }
    }
}
