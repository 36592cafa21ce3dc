using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// A recording, fault-injecting reverse proxy in front of a registry: in-process Kestrel on
/// <c>127.0.0.1:&lt;free port&gt;</c> (plain HTTP) forwarding every request to an upstream (a <see cref="RegistryServer"/>
/// in any mode, or any URL), bodies streamed both ways. Every exchange is recorded (<see cref="Exchanges"/>); rules
/// added with <see cref="When"/> replace the forwarding for the requests they match (a status, a reset, a delay, a
/// tampered body, a rewritten request …), once, N times or always. Upload locations and challenge realms that point at
/// the upstream are rewritten to point at the proxy, so clients keep talking to it.
/// </summary>
/// <remarks>
/// Point clients at <see cref="Host"/> (list it as an insecure registry: <see cref="TestClients.Environment(FaultProxy, bool)"/>).
/// Credentials pass through unchanged; a token realm on another port (the <see cref="TokenServer"/>) is left alone,
/// so clients fetch tokens directly. Rules are tried in the order added; the first that matches and has budget left
/// fires. Dispose stops the proxy.
/// </remarks>
internal sealed class FaultProxy : IAsyncDisposable
{
    /// <summary>Headers that describe one hop's connection, never forwarded (RFC 9110 §7.6.1).</summary>
    private static readonly HashSet<string> s_hopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Expect",
    };

    private readonly WebApplication _app;
    private readonly HttpClient _upstreamClient;
    private readonly TestCertificate? _ca;
    private readonly X509Certificate2? _caPublic;
    private readonly Lock _rulesLock = new();
    private readonly List<FaultRule> _rules = [];
    private readonly ConcurrentQueue<ProxyExchange> _exchanges = new();
    private readonly long _origin = Stopwatch.GetTimestamp();
    private int _sequence;
    private int _handling;

    private FaultProxy(WebApplication app, Uri upstream, HttpMessageHandler upstreamHandler, RegistryServer? registry, TestCertificate? ca)
    {
        _app = app;
        Upstream = upstream;
        Registry = registry;
        _ca = ca;
        _caPublic = ca is null ? null : X509CertificateLoader.LoadCertificate(ca.Certificate.RawData);
        _upstreamClient = new HttpClient(upstreamHandler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>True when the proxy speaks HTTPS (with its own test CA: <see cref="CreateTrustingHandler"/>).</summary>
    public bool IsTls => _ca is not null;

    /// <summary>
    /// When set, the realm of every relayed <c>WWW-Authenticate</c> challenge is replaced by what this makes of it (after
    /// upstream URLs were rewritten): a token service moved to another host, port or scheme for every request, whatever
    /// rules fire. <see cref="FaultAction.RewriteRealm"/> does it for chosen requests.
    /// </summary>
    public Func<string, string>? RealmRewrite { get; set; }

    /// <summary>Where requests go: <c>http(s)://127.0.0.1:PORT</c>.</summary>
    public Uri Upstream { get; }

    /// <summary>The registry behind the proxy, when it was started for one.</summary>
    public RegistryServer? Registry { get; }

    public int Port { get; private set; }

    /// <summary><c>127.0.0.1:PORT</c>: the registry part of an image reference that goes through the proxy.</summary>
    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public Uri BaseUri => new($"{(IsTls ? "https" : "http")}://{Host}/");

    /// <summary>
    /// Every exchange finished so far, in arrival order. A client can see a reset (or the end of a response) a moment
    /// before the proxy records the exchange: exchanges still being handled are waited for, up to two seconds.
    /// </summary>
    public IReadOnlyList<ProxyExchange> Exchanges
    {
        get
        {
            var clock = Stopwatch.StartNew();
            while (Volatile.Read(ref _handling) > 0 && clock.Elapsed < TimeSpan.FromSeconds(2))
            {
                Thread.Sleep(5);
            }

            return [.. _exchanges.OrderBy(e => e.Sequence)];
        }
    }

    /// <summary>A mark for <see cref="ExchangesSince"/>: the sequence number the next request will get.</summary>
    public int Mark => Volatile.Read(ref _sequence) + 1;

    /// <summary>Starts a proxy in front of <paramref name="registry"/> (trusting its test CA in TLS mode).</summary>
    public static Task<FaultProxy> StartAsync(RegistryServer registry, CancellationToken cancellationToken = default) =>
        StartAsync(new Uri(registry.BaseUri.GetLeftPart(UriPartial.Authority)), registry.CreateTrustingHandler(), registry, https: false, cancellationToken);

    /// <summary>
    /// Starts a proxy that speaks HTTPS to its clients (a certificate for <c>127.0.0.1</c> and <c>localhost</c> from a
    /// CA of its own: <see cref="CreateTrustingHandler"/>), in front of <paramref name="registry"/> in any mode. Clients
    /// then meet an HTTPS registry they need not list as insecure, whatever the registry behind it speaks.
    /// </summary>
    public static Task<FaultProxy> StartHttpsAsync(RegistryServer registry, CancellationToken cancellationToken = default) =>
        StartHttpsAsync(registry, [], cancellationToken);

    /// <summary>As <see cref="StartHttpsAsync(RegistryServer, CancellationToken)"/>, with <paramref name="dnsNames"/> in the certificate besides <c>localhost</c> (Docker Hub's names, say).</summary>
    public static Task<FaultProxy> StartHttpsAsync(RegistryServer registry, IReadOnlyList<string> dnsNames, CancellationToken cancellationToken = default) =>
        StartAsync(new Uri(registry.BaseUri.GetLeftPart(UriPartial.Authority)), registry.CreateTrustingHandler(), registry, https: true, cancellationToken, dnsNames);

    /// <summary>Starts a proxy in front of any HTTP(S) origin; <paramref name="handler"/> (owned) defaults to a plain <see cref="SocketsHttpHandler"/>.</summary>
    public static Task<FaultProxy> StartAsync(Uri upstream, HttpMessageHandler? handler = null, CancellationToken cancellationToken = default) =>
        StartAsync(upstream, handler ?? new SocketsHttpHandler(), null, https: false, cancellationToken);

    /// <summary>
    /// An HTTPS proxy (its own CA) in front of any HTTP(S) origin: a token service on a sibling host, a mirror, Docker
    /// Hub's names. <see cref="CreateTrustingHandler(FaultProxy[])"/> trusts several such proxies at once.
    /// </summary>
    public static Task<FaultProxy> StartHttpsAsync(Uri upstream, HttpMessageHandler? handler = null, IReadOnlyList<string>? dnsNames = null, CancellationToken cancellationToken = default) =>
        StartAsync(upstream, handler ?? new SocketsHttpHandler(), null, https: true, cancellationToken, dnsNames);

    /// <summary>A handler that trusts the test CAs of every one of <paramref name="proxies"/> (a registry and its token service, say).</summary>
    public static SocketsHttpHandler CreateTrustingHandler(params FaultProxy[] proxies)
    {
        var roots = proxies.Select(p => p._caPublic).OfType<X509Certificate2>().ToList();
        return new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => roots.Any(root => RegistryServer.IsTrusted(root, certificate, errors)) },
        };
    }

    /// <summary>A handler that trusts this proxy's test CA (HTTPS proxies); a plain <see cref="SocketsHttpHandler"/> otherwise.</summary>
    public HttpMessageHandler CreateTrustingHandler()
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false };
        if (_caPublic is { } root)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => RegistryServer.IsTrusted(root, certificate, errors);
        }

        return handler;
    }

    private static async Task<FaultProxy> StartAsync(Uri upstream, HttpMessageHandler handler, RegistryServer? registry, bool https, CancellationToken cancellationToken, IReadOnlyList<string>? dnsNames = null)
    {
        if (handler is SocketsHttpHandler sockets)
        {
            // A proxy relays redirects and never keeps cookies or decompresses.
            sockets.AllowAutoRedirect = false;
            sockets.UseCookies = false;
            sockets.AutomaticDecompression = DecompressionMethods.None;
        }

        // The empty builder reads no configuration and logs nothing (as TokenServer).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        var ca = https ? TestCertificates.CreateCertificateAuthority("MultiArch fault proxy CA") : null;
        var serverCertificate = ca is null ? null : TestCertificates.CreateServerCertificate(ca, [IPAddress.Loopback], ["localhost", .. dnsNames ?? []]);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (serverCertificate is not null)
                {
                    listen.UseHttps(serverCertificate.Certificate);
                }
            });
            kestrel.Limits.MaxRequestBodySize = null; // blobs
            kestrel.AddServerHeader = false;
        });
        builder.Services.AddSingleton<IHostLifetime, InertHostLifetime>();
        var app = builder.Build();
        var proxy = new FaultProxy(app, upstream, handler, registry, ca);
        app.Run(proxy.HandleAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        proxy.Port = new Uri(address).Port;
        return proxy;
    }

    /// <summary>
    /// Adds a rule: requests matching <paramref name="predicate"/> get <paramref name="action"/> instead of plain
    /// forwarding, <paramref name="times"/> times (null: always). Returns the rule, which counts how often it fired.
    /// </summary>
    public FaultRule When(Func<ProxyRequest, bool> predicate, FaultAction action, int? times = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        ArgumentNullException.ThrowIfNull(action);
        if (times is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(times), times, "A rule fires at least once; remove it instead.");
        }

        var rule = new FaultRule(name ?? action.Name, predicate, action, times);
        lock (_rulesLock)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    /// <summary>Removes every rule; from now on every request is forwarded.</summary>
    public void ClearRules()
    {
        lock (_rulesLock)
        {
            _rules.Clear();
        }
    }

    /// <summary>The exchanges that arrived at or after <paramref name="mark"/> (see <see cref="Mark"/>).</summary>
    public IReadOnlyList<ProxyExchange> ExchangesSince(int mark) => [.. Exchanges.Where(e => e.Sequence >= mark)];

    /// <summary>The exchanges whose request matches <paramref name="predicate"/>.</summary>
    public IReadOnlyList<ProxyExchange> ExchangesFor(Func<ProxyRequest, bool> predicate) => [.. Exchanges.Where(e => predicate(e.Request))];

    /// <summary>
    /// One line per exchange (<c>#3 PUT /v2/a/manifests/1 -> 201</c>, plus the rule and outcome when a rule fired),
    /// for failure messages and request-count reports.
    /// </summary>
    public string Transcript(Func<ProxyExchange, bool>? filter = null) =>
        string.Join('\n', Exchanges.Where(filter ?? (_ => true)).Select(e => e.ToString()));

    /// <summary><c>127.0.0.1:PORT/repository:tag</c> (or <c>@digest</c> when <paramref name="tagOrDigest"/> contains ':').</summary>
    public string Reference(string repository, string tagOrDigest = "latest") =>
        $"{Host}/{repository}{(tagOrDigest.Contains(':', StringComparison.Ordinal) ? "@" : ":")}{tagOrDigest}";

    public override string ToString() => $"fault proxy {BaseUri} -> {Upstream}";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _upstreamClient.Dispose();
        _ca?.Dispose();
        _caPublic?.Dispose();
    }

    // ---------------------------------------------------------------- handling

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _handling);
        var sequence = Interlocked.Increment(ref _sequence);
        var started = Stopwatch.GetElapsedTime(_origin);
        var request = ProxyRequest.From(context.Request);
        var stopwatch = Stopwatch.StartNew();
        var rule = Claim(request);
        var exchange = new ProxyContext(this, context, request);
        try
        {
            await (rule?.Action ?? FaultAction.Forward).RunAsync(exchange);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            // The upstream failed or the client went away: a reset is the honest answer either way.
            exchange.Outcome = ProxyOutcome.Failed;
            exchange.Error = ex.GetType().Name + ": " + ex.Message;
            context.Abort();
        }
        finally
        {
            _exchanges.Enqueue(new ProxyExchange(
                sequence,
                request,
                exchange.Outcome is ProxyOutcome.Failed or ProxyOutcome.ResetBeforeForwarding or ProxyOutcome.ResetAfterForwarding ? 0 : context.Response.StatusCode,
                exchange.UpstreamStatus,
                exchange.ResponseHeaders,
                rule?.Name,
                exchange.Outcome,
                stopwatch.Elapsed,
                exchange.Error)
            {
                Started = started,
                BodyBytes = exchange.BodyBytes,
            });
            Interlocked.Decrement(ref _handling);
        }
    }

    private FaultRule? Claim(ProxyRequest request)
    {
        FaultRule[] rules;
        lock (_rulesLock)
        {
            rules = [.. _rules];
        }

        foreach (var rule in rules)
        {
            if (rule.Matches(request) && rule.TryClaim())
            {
                return rule;
            }
        }

        return null;
    }

    /// <summary>
    /// Sends the client's request (or <paramref name="pathAndQuery"/> instead of its own) to the upstream, streaming the
    /// body; <paramref name="adjust"/> may change the message (its headers) just before it goes.
    /// </summary>
    internal async Task<HttpResponseMessage> SendUpstreamAsync(HttpContext context, ProxyRequest request, string? pathAndQuery, Action<HttpRequestMessage>? adjust = null)
    {
        var target = new Uri(Upstream, pathAndQuery ?? request.PathAndQuery);
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), target);
        var incoming = context.Request;
        var hasBody = incoming.ContentLength is > 0 || incoming.Headers.TransferEncoding.Count > 0 ||
            (incoming.ContentLength == 0 && request.Method is "POST" or "PUT" or "PATCH");
        if (hasBody)
        {
            message.Content = new StreamContent(incoming.Body);
            if (incoming.ContentLength is { } length)
            {
                message.Content.Headers.ContentLength = length;
            }
        }

        foreach (var (name, values) in incoming.Headers)
        {
            if (s_hopByHop.Contains(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        adjust?.Invoke(message);
        return await _upstreamClient.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
    }

    /// <summary>An upstream URL in a header (Location, a challenge realm) as the client must see it: through the proxy.</summary>
    /// <remarks>Only the upstream's exact origin is rewritten: a token realm on another port of the same host is left alone.</remarks>
    internal string RewriteUpstreamUrls(string value)
    {
        var upstream = Regex.Escape(Upstream.GetLeftPart(UriPartial.Authority));
        return Regex.Replace(value, upstream + "(?=[/?#\"]|$)", BaseUri.GetLeftPart(UriPartial.Authority), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    }

    internal static bool IsHopByHop(string header) => s_hopByHop.Contains(header);

    private sealed class InertHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>What happened to one request.</summary>
public enum ProxyOutcome
{
    /// <summary>Forwarded and the upstream's answer relayed unchanged (but for rewritten URLs).</summary>
    Forwarded,

    /// <summary>Forwarded as a different request (<see cref="FaultAction.Rewrite"/>), the answer relayed.</summary>
    Rewritten,

    /// <summary>Answered by the proxy; the upstream never saw it.</summary>
    Answered,

    /// <summary>Forwarded, and the upstream's body changed on the way back.</summary>
    Tampered,

    /// <summary>The connection was reset before anything was forwarded.</summary>
    ResetBeforeForwarding,

    /// <summary>Forwarded and applied by the upstream, then the client's connection was reset instead of answered.</summary>
    ResetAfterForwarding,

    /// <summary>Forwarded; the headers were relayed, then the connection was cut partway through the body.</summary>
    BodyCut,

    /// <summary>The upstream could not be reached or the client went away.</summary>
    Failed,
}

/// <summary>A request as the proxy received it: what rule predicates look at. The body is not read before forwarding.</summary>
internal sealed class ProxyRequest
{
    private ProxyRequest(string method, string path, string query, IReadOnlyDictionary<string, string> headers)
    {
        Method = method;
        Path = path;
        Query = query;
        Headers = headers;
    }

    /// <summary><c>GET</c>, <c>HEAD</c>, <c>PUT</c> …</summary>
    public string Method { get; }

    /// <summary>The path as sent (still escaped), e.g. <c>/v2/test/app/manifests/1.0</c>.</summary>
    public string Path { get; }

    /// <summary>The query with its '?', or empty.</summary>
    public string Query { get; }

    public string PathAndQuery => Path + Query;

    /// <summary>Request headers, case-insensitive; repeated values joined with ", ".</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    public string? ContentType => Headers.TryGetValue("Content-Type", out var value) ? value : null;

    /// <summary>The repository of a <c>/v2/&lt;name&gt;/(manifests|blobs|tags)/…</c> request, else null.</summary>
    public string? Repository
    {
        get
        {
            if (!Path.StartsWith("/v2/", StringComparison.Ordinal))
            {
                return null;
            }

            foreach (var marker in new[] { "/manifests/", "/blobs/", "/tags/" })
            {
                var at = Path.IndexOf(marker, StringComparison.Ordinal);
                if (at > 4)
                {
                    return Path[4..at];
                }
            }

            return null;
        }
    }

    public bool IsManifest => Path.Contains("/manifests/", StringComparison.Ordinal);

    /// <summary>A blob read or check: <c>/v2/&lt;name&gt;/blobs/&lt;digest&gt;</c>.</summary>
    public bool IsBlob => Path.Contains("/blobs/", StringComparison.Ordinal) && !IsUpload;

    /// <summary>Anything under <c>/blobs/uploads/</c>: starting, continuing, finishing or cancelling an upload, and mounts.</summary>
    public bool IsUpload => Path.Contains("/blobs/uploads/", StringComparison.Ordinal);

    /// <summary>A cross-repository mount: <c>POST …/blobs/uploads/?mount=&lt;digest&gt;&amp;from=&lt;repository&gt;</c>.</summary>
    public bool IsMount => Method == "POST" && IsUpload && QueryValue("mount") is not null;

    /// <summary>A request that changes the registry: POST, PUT, PATCH or DELETE.</summary>
    public bool IsWrite => Method is "POST" or "PUT" or "PATCH" or "DELETE";

    /// <summary>A query parameter, unescaped; null when absent.</summary>
    public string? QueryValue(string name)
    {
        foreach (var pair in Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? pair : pair[..equals];
            if (Uri.UnescapeDataString(key) == name)
            {
                return equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
            }
        }

        return null;
    }

    /// <summary>True for <paramref name="method"/> on a path containing <paramref name="pathPart"/>.</summary>
    public bool Is(string method, string pathPart) =>
        Method.Equals(method, StringComparison.OrdinalIgnoreCase) && Path.Contains(pathPart, StringComparison.Ordinal);

    public override string ToString() => $"{Method} {PathAndQuery}";

    internal static ProxyRequest From(HttpRequest request)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            headers[name] = values.ToString();
        }

        return new ProxyRequest(request.Method, request.Path.ToUriComponent(), request.QueryString.ToUriComponent(), headers);
    }
}

/// <summary>One finished exchange.</summary>
/// <param name="Sequence">Arrival order, from 1.</param>
/// <param name="Request">The request as received.</param>
/// <param name="Status">The status the client got; 0 when its connection was reset.</param>
/// <param name="UpstreamStatus">The upstream's status when the request (or its rewrite) was forwarded; null otherwise.</param>
/// <param name="ResponseHeaders">The headers the client got (after rewriting), case-insensitive.</param>
/// <param name="Rule">The rule that fired, or null when the request was simply forwarded.</param>
/// <param name="Outcome">What the proxy did.</param>
/// <param name="Duration">From arrival to the end of the response.</param>
/// <param name="Error">Why the exchange failed (<see cref="ProxyOutcome.Failed"/>).</param>
internal sealed record ProxyExchange(
    int Sequence,
    ProxyRequest Request,
    int Status,
    int? UpstreamStatus,
    IReadOnlyDictionary<string, string> ResponseHeaders,
    string? Rule,
    ProxyOutcome Outcome,
    TimeSpan Duration,
    string? Error)
{
    /// <summary>When the request arrived, from the proxy's start; <see cref="Started"/> + <see cref="Duration"/> is when its response ended.</summary>
    public TimeSpan Started { get; init; }

    public TimeSpan Ended => Started + Duration;

    /// <summary>How many bytes of response body reached the client's connection (what the proxy wrote).</summary>
    public long BodyBytes { get; init; }

    public string Method => Request.Method;

    public string PathAndQuery => Request.PathAndQuery;

    public string? Header(string name) => ResponseHeaders.TryGetValue(name, out var value) ? value : null;

    public override string ToString()
    {
        var text = new StringBuilder().Append('#').Append(Sequence).Append(' ').Append(Request).Append(" -> ").Append(Status == 0 ? "reset" : Status.ToString(CultureInfo.InvariantCulture));
        if (Rule is not null || Outcome != ProxyOutcome.Forwarded)
        {
            text.Append(" [").Append(Outcome);
            if (Rule is not null)
            {
                text.Append(": ").Append(Rule);
            }

            if (UpstreamStatus is { } upstream && upstream != Status)
            {
                text.Append(", upstream ").Append(upstream);
            }

            text.Append(']');
        }

        if (Error is not null)
        {
            text.Append(" (").Append(Error).Append(')');
        }

        return text.ToString();
    }
}

/// <summary>A rule of a <see cref="FaultProxy"/>: which requests, what to do, how many times.</summary>
internal sealed class FaultRule
{
    private readonly Func<ProxyRequest, bool> _predicate;
    private int _remaining;
    private int _fired;

    internal FaultRule(string name, Func<ProxyRequest, bool> predicate, FaultAction action, int? times)
    {
        Name = name;
        _predicate = predicate;
        Action = action;
        Times = times;
        _remaining = times ?? int.MaxValue;
    }

    public string Name { get; }

    public FaultAction Action { get; }

    /// <summary>How many times it may fire; null for always.</summary>
    public int? Times { get; }

    /// <summary>How many times it fired so far.</summary>
    public int Fired => Volatile.Read(ref _fired);

    internal bool Matches(ProxyRequest request) => _predicate(request);

    /// <summary>Takes one firing, atomically: two concurrent requests never both take the last one.</summary>
    internal bool TryClaim()
    {
        while (true)
        {
            var remaining = Volatile.Read(ref _remaining);
            if (remaining <= 0)
            {
                return false;
            }

            var next = Times is null ? remaining : remaining - 1;
            if (Interlocked.CompareExchange(ref _remaining, next, remaining) == remaining)
            {
                Interlocked.Increment(ref _fired);
                return true;
            }
        }
    }

    public override string ToString() => $"{Name} (fired {Fired}{(Times is { } n ? " of " + n.ToString(CultureInfo.InvariantCulture) : string.Empty)})";
}

/// <summary>
/// What a rule does with a request. The factories cover the usual faults; <see cref="Custom"/> takes any
/// <see cref="ProxyContext"/> script (forward, inspect, answer, reset).
/// </summary>
internal sealed class FaultAction
{
    private readonly Func<ProxyContext, Task> _run;

    private FaultAction(string name, Func<ProxyContext, Task> run)
    {
        Name = name;
        _run = run;
    }

    /// <summary>For transcripts, e.g. <c>respond 503</c>.</summary>
    public string Name { get; }

    /// <summary>Plain forwarding (what happens without a rule); useful to exempt requests from a later, broader rule.</summary>
    public static FaultAction Forward { get; } = new("forward", async context => await context.RelayAsync(await context.SendUpstreamAsync()));

    /// <summary>Answers with <paramref name="status"/>, optional headers and body; the upstream never sees the request.</summary>
    public static FaultAction Respond(int status, IReadOnlyDictionary<string, string>? headers = null, string? body = null, string contentType = "application/json") =>
        new($"respond {status}", context => context.RespondAsync(status, headers, body is null ? null : Encoding.UTF8.GetBytes(body), contentType));

    /// <summary>Answers with whatever <paramref name="respond"/> makes of the request.</summary>
    public static FaultAction Respond(string name, Func<ProxyRequest, ProxyResponse> respond) =>
        new(name, context =>
        {
            var response = respond(context.Request);
            return context.RespondAsync(response.Status, response.Headers, response.Body, response.ContentType);
        });

    /// <summary>A distribution-style error: <c>{"errors":[{"code":…,"message":…}]}</c> with <paramref name="status"/>.</summary>
    public static FaultAction RegistryError(int status, string code, string message, IReadOnlyDictionary<string, string>? headers = null) =>
        new($"respond {status} {code}", context => context.RespondAsync(status, headers, ErrorBody(code, message), "application/json; charset=utf-8"));

    /// <summary><paramref name="status"/> (429, 503 …) with <c>Retry-After: &lt;seconds&gt;</c>.</summary>
    public static FaultAction RetryAfter(int status, TimeSpan delay) =>
        RetryAfterHeader(status, ((long)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture));

    /// <summary><paramref name="status"/> with <c>Retry-After: &lt;HTTP date&gt;</c> (RFC 9110 IMF-fixdate).</summary>
    public static FaultAction RetryAfter(int status, DateTimeOffset until) =>
        RetryAfterHeader(status, until.UtcDateTime.ToString("r", CultureInfo.InvariantCulture));

    /// <summary>Resets the client's connection; the upstream never sees the request.</summary>
    public static FaultAction Reset { get; } = new("reset", context =>
    {
        context.Abort(ProxyOutcome.ResetBeforeForwarding);
        return Task.CompletedTask;
    });

    /// <summary>Forwards (the upstream applies the request), reads the whole answer, then resets the client's connection.</summary>
    public static FaultAction ResetAfterForwarding { get; } = new("reset after forwarding", async context =>
    {
        using var upstream = await context.SendUpstreamAsync();
        await upstream.Content.ReadAsByteArrayAsync(context.Aborted);
        context.Abort(ProxyOutcome.ResetAfterForwarding);
    });

    /// <summary>Waits <paramref name="delay"/> before the response headers, then does <paramref name="then"/> (default: forward).</summary>
    public static FaultAction Delay(TimeSpan delay, FaultAction? then = null) =>
        new($"delay {delay.TotalMilliseconds:0} ms, then {(then ?? Forward).Name}", async context =>
        {
            await Task.Delay(delay, context.Aborted);
            await (then ?? Forward).RunAsync(context);
        });

    /// <summary>Forwards, then sends <paramref name="tamper"/>'s version of the upstream's body (headers kept, length fixed).</summary>
    public static FaultAction TamperBody(Func<byte[], byte[]> tamper) =>
        new("tamper body", async context => await context.RelayAsync(await context.SendUpstreamAsync(), tamper));

    /// <summary>Forwards a different request instead: <paramref name="rewrite"/> gives the path and query to send.</summary>
    public static FaultAction Rewrite(string name, Func<ProxyRequest, string> rewrite) =>
        new(name, async context => await context.RelayAsync(await context.SendUpstreamAsync(rewrite(context.Request)), outcome: ProxyOutcome.Rewritten));

    /// <summary>
    /// A registry that refuses cross-repository mounts, as ECR Public does: a mount POST is forwarded without its
    /// <c>mount</c> and <c>from</c> parameters, so the registry opens an ordinary upload session and answers 202 with
    /// its Location, which the client must use or cancel.
    /// </summary>
    public static FaultAction RefuseMount { get; } = Rewrite("refuse mount (202 + upload session)", request =>
    {
        var kept = request.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(p => !p.StartsWith("mount=", StringComparison.Ordinal) && !p.StartsWith("from=", StringComparison.Ordinal));
        var query = string.Join('&', kept);
        return request.Path + (query.Length == 0 ? string.Empty : "?" + query);
    });

    /// <summary>
    /// An expired (or revoked) token: the request goes upstream with its bearer token made invalid (its signature changed),
    /// so the registry itself answers 401 with <c>error="invalid_token"</c> and its real challenge. Requests without a
    /// bearer token are forwarded unchanged.
    /// </summary>
    public static FaultAction ExpireToken { get; } = new("expire the token (401 invalid_token)", async context =>
        await context.RelayAsync(await context.SendUpstreamAsync(adjust: message =>
        {
            if (message.Headers.Authorization is { Scheme: "Bearer", Parameter: { } token })
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^2] + (token[^2] == 'A' ? "BB" : "AA"));
            }
        })));

    /// <summary>Answers <paramref name="status"/> (307 by default) with <c>Location</c> = what <paramref name="location"/> makes of the request; the upstream never sees it.</summary>
    public static FaultAction Redirect(Func<ProxyRequest, string> location, int status = 307) =>
        new($"redirect {status}", context => context.RespondAsync(status, new Dictionary<string, string> { ["Location"] = location(context.Request) }, null));

    /// <summary>Forwards, then sets the response header <paramref name="name"/> to what <paramref name="rewrite"/> makes of it (null: removes it).</summary>
    public static FaultAction RewriteHeader(string name, Func<string?, string?> rewrite) =>
        new($"rewrite {name}", async context => await context.RelayAsync(await context.SendUpstreamAsync(), outcome: ProxyOutcome.Rewritten, headers: headers =>
        {
            var value = rewrite(headers.TryGetValue(name, out var current) ? current.ToString() : null);
            if (value is null)
            {
                headers.Remove(name);
            }
            else
            {
                headers[name] = value;
            }
        }));

    /// <summary>
    /// Forwards, then points the <c>realm</c> of a <c>WWW-Authenticate</c> challenge elsewhere (another host, port or
    /// scheme): what <paramref name="realm"/> makes of the realm as the client would have seen it.
    /// </summary>
    public static FaultAction RewriteRealm(Func<string, string> realm) =>
        RewriteHeader("WWW-Authenticate", value => value is null ? null : ReplaceRealm(value, realm));

    internal static string ReplaceRealm(string challenge, Func<string, string> realm) =>
        Regex.Replace(challenge, "realm=\"([^\"]*)\"", m => $"realm=\"{realm(m.Groups[1].Value)}\"", RegexOptions.CultureInvariant);

    /// <summary>Forwards; the headers come at once, the body in <paramref name="chunkBytes"/> pieces every <paramref name="interval"/>.</summary>
    public static FaultAction SlowBody(TimeSpan interval, int chunkBytes = 64) =>
        new($"slow body ({chunkBytes} bytes every {interval.TotalMilliseconds:0} ms)", async context =>
            await context.RelayPacedAsync(await context.SendUpstreamAsync(), chunkBytes, interval));

    /// <summary>
    /// Forwards; relays the headers (with the full Content-Length) and <paramref name="fraction"/> of the body, then resets
    /// the connection: a premature end of the body.
    /// </summary>
    public static FaultAction CutBody(double fraction = 0.5) =>
        new($"cut the body after {fraction:P0}", async context =>
        {
            var upstream = await context.SendUpstreamAsync();
            var length = upstream.Content.Headers.ContentLength ?? 0;
            await context.RelayPacedAsync(upstream, 64 * 1024, TimeSpan.Zero, (long)(length * fraction));
        });

    /// <summary>
    /// Answers <paramref name="status"/> with <paramref name="length"/> bytes of filler (<see cref="long.MaxValue"/>: a body
    /// that never ends), chunked or with a Content-Length: an HTML error page of 10 MB, a token service gone mad.
    /// </summary>
    public static FaultAction HugeBody(int status, long length, bool chunked = true, string contentType = "text/html") =>
        new($"respond {status} with {(length == long.MaxValue ? "an endless" : length.ToString(CultureInfo.InvariantCulture) + " byte")} {(chunked ? "chunked " : string.Empty)}body",
            context => context.RespondStreamingAsync(status, length, chunked, contentType));

    /// <summary>Anything else: a script over the <see cref="ProxyContext"/>.</summary>
    public static FaultAction Custom(string name, Func<ProxyContext, Task> run) => new(name, run);

    /// <summary>
    /// A registry that refuses some content: reads the request body, answers with a distribution-style error when
    /// <paramref name="reject"/> says so, and forwards the request (body intact) otherwise.
    /// </summary>
    public static FaultAction RejectBody(Func<byte[], bool> reject, int status, string code, string message) =>
        new($"reject body with {status} {code}", async context =>
        {
            if (reject(await context.ReadBodyAsync()))
            {
                await context.RespondAsync(status, null, ErrorBody(code, message), "application/json; charset=utf-8");
                return;
            }

            await context.RelayAsync(await context.SendUpstreamAsync());
        });

    internal Task RunAsync(ProxyContext context) => _run(context);

    public override string ToString() => Name;

    private static FaultAction RetryAfterHeader(int status, string value) =>
        new($"respond {status}, Retry-After: {value}", context => context.RespondAsync(
            status,
            new Dictionary<string, string> { ["Retry-After"] = value },
            ErrorBody(status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", "injected by the fault proxy"),
            "application/json; charset=utf-8"));

    private static byte[] ErrorBody(string code, string message) =>
        JsonSerializer.SerializeToUtf8Bytes(new { errors = new[] { new { code, message, detail = (object?)null } } });
}

/// <summary>A response a rule makes up.</summary>
internal sealed record ProxyResponse(int Status, IReadOnlyDictionary<string, string>? Headers = null, byte[]? Body = null, string ContentType = "application/json");

/// <summary>One request being handled: what actions use to forward, answer or reset it.</summary>
internal sealed class ProxyContext
{
    private readonly FaultProxy _proxy;
    private readonly HttpContext _context;

    internal ProxyContext(FaultProxy proxy, HttpContext context, ProxyRequest request)
    {
        _proxy = proxy;
        _context = context;
        Request = request;
    }

    public ProxyRequest Request { get; }

    /// <summary>Cancelled when the client goes away.</summary>
    public CancellationToken Aborted => _context.RequestAborted;

    internal ProxyOutcome Outcome { get; set; } = ProxyOutcome.Forwarded;

    internal int? UpstreamStatus { get; private set; }

    internal IReadOnlyDictionary<string, string> ResponseHeaders { get; private set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    internal string? Error { get; set; }

    /// <summary>How many response body bytes were written to the client so far.</summary>
    internal long BodyBytes { get; private set; }

    /// <summary>
    /// Reads the whole request body for a rule to look at. The body is buffered, so forwarding afterwards still sends it;
    /// only use this for small bodies (manifests), never for blobs.
    /// </summary>
    public async Task<byte[]> ReadBodyAsync()
    {
        var request = _context.Request;
        request.EnableBuffering();
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, Aborted);
        request.Body.Position = 0;
        return buffer.ToArray();
    }

    /// <summary>
    /// Sends the request (or <paramref name="pathAndQuery"/> instead) upstream; the caller relays or disposes the response.
    /// <paramref name="adjust"/> may change the outgoing message (its headers) first.
    /// </summary>
    public async Task<HttpResponseMessage> SendUpstreamAsync(string? pathAndQuery = null, Action<HttpRequestMessage>? adjust = null)
    {
        var response = await _proxy.SendUpstreamAsync(_context, Request, pathAndQuery, adjust);
        UpstreamStatus = (int)response.StatusCode;
        return response;
    }

    /// <summary>
    /// Relays an upstream response to the client: status, headers (upstream URLs rewritten to the proxy, then
    /// <paramref name="headers"/> applied) and the body, streamed, or replaced by <paramref name="tamper"/>'s result.
    /// Disposes <paramref name="upstream"/>.
    /// </summary>
    public async Task RelayAsync(HttpResponseMessage upstream, Func<byte[], byte[]>? tamper = null, ProxyOutcome? outcome = null, Action<IHeaderDictionary>? headers = null)
    {
        using (upstream)
        {
            CopyHeaders(upstream);
            headers?.Invoke(_context.Response.Headers);
            if (tamper is null)
            {
                Outcome = outcome ?? ProxyOutcome.Forwarded;
                RecordHeaders();
                await using var body = await upstream.Content.ReadAsStreamAsync(Aborted);
                var buffer = new byte[81920];
                int read;
                while ((read = await body.ReadAsync(buffer, Aborted)) > 0)
                {
                    await WriteAsync(buffer.AsMemory(0, read));
                }
            }
            else
            {
                var bytes = tamper(await upstream.Content.ReadAsByteArrayAsync(Aborted));
                Outcome = outcome ?? ProxyOutcome.Tampered;
                _context.Response.ContentLength = bytes.Length;
                RecordHeaders();
                await WriteAsync(bytes);
            }
        }
    }

    /// <summary>
    /// Relays an upstream response with its headers (Content-Length kept), then its body in <paramref name="chunkBytes"/>
    /// pieces with <paramref name="interval"/> before each; after <paramref name="cutAfter"/> bytes (when given) the
    /// connection is reset instead of finishing the body. Disposes <paramref name="upstream"/>.
    /// </summary>
    public async Task RelayPacedAsync(HttpResponseMessage upstream, int chunkBytes, TimeSpan interval, long? cutAfter = null)
    {
        using (upstream)
        {
            CopyHeaders(upstream);
            var bytes = await upstream.Content.ReadAsByteArrayAsync(Aborted);
            _context.Response.ContentLength = bytes.Length;
            Outcome = ProxyOutcome.Forwarded;
            RecordHeaders();
            await _context.Response.StartAsync(Aborted);
            await _context.Response.Body.FlushAsync(Aborted);
            var limit = Math.Min(bytes.Length, cutAfter ?? long.MaxValue);
            for (var offset = 0; offset < limit; offset += chunkBytes)
            {
                await Task.Delay(interval, Aborted);
                await WriteAsync(bytes.AsMemory(offset, (int)Math.Min(chunkBytes, limit - offset)));
                await _context.Response.Body.FlushAsync(Aborted);
            }

            if (limit < bytes.Length)
            {
                // A reset discards what the client has not read yet: give it a moment to take what was sent.
                await Task.Delay(250, Aborted);
                Abort(ProxyOutcome.BodyCut);
            }
        }
    }

    /// <summary>
    /// Answers with <paramref name="status"/> and a body of <paramref name="length"/> filler bytes (<see cref="long.MaxValue"/>:
    /// endless), streamed in 16 KiB pieces, with a Content-Length or chunked; stops when the client goes away.
    /// <see cref="ProxyExchange.BodyBytes"/> then tells how much the client read before giving up.
    /// </summary>
    public async Task RespondStreamingAsync(int status, long length, bool chunked, string contentType)
    {
        Outcome = ProxyOutcome.Answered;
        var response = _context.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        response.Headers["Docker-Distribution-Api-Version"] = "registry/2.0";
        if (!chunked && length != long.MaxValue)
        {
            response.ContentLength = length;
        }

        RecordHeaders();
        var filler = new byte[16 * 1024];
        Array.Fill(filler, (byte)'x');
        for (long sent = 0; sent < length;)
        {
            var piece = (int)Math.Min(filler.Length, length - sent);
            await WriteAsync(filler.AsMemory(0, piece));
            sent += piece;
            if (sent % (256 * 1024) == 0)
            {
                // Kestrel completes writes to a connection the client dropped without waiting; pausing now and then
                // lets the abort arrive, so BodyBytes stays close to what the client took.
                await Task.Delay(1, Aborted);
            }
        }
    }

    /// <summary>Answers the client without asking the upstream.</summary>
    public async Task RespondAsync(int status, IReadOnlyDictionary<string, string>? headers, byte[]? body, string contentType = "application/json")
    {
        Outcome = ProxyOutcome.Answered;
        var response = _context.Response;
        response.StatusCode = status;
        response.Headers["Docker-Distribution-Api-Version"] = "registry/2.0";
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            response.Headers[name] = value;
        }

        body ??= [];
        if (body.Length > 0)
        {
            response.ContentType = contentType;
        }

        response.ContentLength = body.Length;
        RecordHeaders();
        if (body.Length > 0 && !HttpMethods.IsHead(Request.Method))
        {
            await WriteAsync(body);
        }
    }

    /// <summary>Resets the client's connection (no HTTP response at all, or no more of it).</summary>
    public void Abort(ProxyOutcome outcome)
    {
        Outcome = outcome;
        _context.Abort();
    }

    private void CopyHeaders(HttpResponseMessage upstream)
    {
        var response = _context.Response;
        response.StatusCode = (int)upstream.StatusCode;
        foreach (var (name, values) in upstream.Headers.Concat(upstream.Content.Headers))
        {
            if (FaultProxy.IsHopByHop(name))
            {
                continue;
            }

            var rewritten = name.Equals("Location", StringComparison.OrdinalIgnoreCase) || name.Equals("WWW-Authenticate", StringComparison.OrdinalIgnoreCase)
                ? values.Select(_proxy.RewriteUpstreamUrls).ToArray()
                : values.ToArray();
            if (_proxy.RealmRewrite is { } realm && name.Equals("WWW-Authenticate", StringComparison.OrdinalIgnoreCase))
            {
                rewritten = [.. rewritten.Select(value => FaultAction.ReplaceRealm(value, realm))];
            }

            response.Headers[name] = rewritten;
        }
    }

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        // Kestrel drops writes to a connection the client closed without failing them: stop as soon as it is gone.
        Aborted.ThrowIfCancellationRequested();
        await _context.Response.Body.WriteAsync(bytes, Aborted);
        BodyBytes += bytes.Length;
    }

    private void RecordHeaders()
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in _context.Response.Headers)
        {
            headers[name] = values.ToString();
        }

        ResponseHeaders = headers;
    }
}
