using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Primitives;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Settings for a <see cref="TokenServer"/>.</summary>
internal sealed record TokenServerOptions
{
    /// <summary>user → password. Requests with Basic credentials not in this map get 401.</summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>When true (the default) anonymous requests get <c>pull</c> on repository scopes; when false they get nothing.</summary>
    public bool AllowAnonymousPull { get; init; } = true;

    /// <summary>Token lifetime: <c>expires_in</c>, and <c>exp = iat + lifetime</c> in the JWT.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The registry's <c>auth.token.service</c>; the JWT audience. A request naming another service gets 400.</summary>
    public string Service { get; init; } = TokenServer.DefaultService;

    /// <summary>The registry's <c>auth.token.issuer</c>.</summary>
    public string Issuer { get; init; } = TokenServer.DefaultIssuer;
}

/// <summary>One request the token server answered.</summary>
/// <param name="Time">When it arrived (UTC).</param>
/// <param name="Method">GET, or POST for the OAuth2 form flow.</param>
/// <param name="User">The authenticated user, or null when anonymous or refused.</param>
/// <param name="AttemptedUser">The user name the client presented (Basic, form or <c>account=</c>), even when refused.</param>
/// <param name="Scopes">Every requested scope, split on spaces, in request order.</param>
/// <param name="Status">The HTTP status sent back.</param>
internal sealed record TokenRequest(DateTimeOffset Time, string Method, string? User, string? AttemptedUser, IReadOnlyList<string> Scopes, int Status);

/// <summary>One <c>access</c> entry of a token: <c>type:name:actions</c>.</summary>
internal sealed record TokenAccess(string Type, string Name, IReadOnlyList<string> Actions)
{
    /// <summary>Parses <c>type:name:a,b</c>: the type ends at the first ':', the actions start after the last ':'.</summary>
    public static TokenAccess? TryParse(string scope)
    {
        var first = scope.IndexOf(':', StringComparison.Ordinal);
        var last = scope.LastIndexOf(':');
        if (first <= 0 || last <= first)
        {
            return null;
        }

        var actions = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new TokenAccess(scope[..first], scope[(first + 1)..last], actions);
    }

    /// <summary>Same type and name, and the same set of actions in any order.</summary>
    public bool SameAs(TokenAccess other) =>
        Type == other.Type && Name == other.Name && Actions.ToHashSet(StringComparer.Ordinal).SetEquals(other.Actions);

    public override string ToString() => $"{Type}:{Name}:{string.Join(',', Actions)}";
}

/// <summary>
/// An in-process Docker token server (distribution's <c>auth.token</c> protocol) on <c>127.0.0.1:&lt;free port&gt;</c>.
/// <c>GET /token?service=..&amp;scope=..</c> with optional Basic credentials, and the OAuth2 <c>POST /token</c> form
/// (<c>grant_type=password</c> or <c>refresh_token</c>). It issues RS256 JWTs in the shape distribution 2.8 accepts:
/// <c>x5c</c> header with the self-signed signing certificate, <c>aud</c> as a string, integer times.
/// Every request is recorded in <see cref="Requests"/>.
/// </summary>
internal sealed class TokenServer : IAsyncDisposable
{
    public const string DefaultService = "multiarch-test-registry";
    public const string DefaultIssuer = "multiarch-test-issuer";

    private static readonly JsonWriterOptions _compactJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly WebApplication _app;
    private readonly TestCertificate _signer;
    private readonly ConcurrentQueue<TokenRequest> _requests = new();
    private readonly ConcurrentQueue<string> _issued = new();
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new(StringComparer.Ordinal);

    private TokenServer(WebApplication app, TestCertificate signer, TokenServerOptions options)
    {
        _app = app;
        _signer = signer;
        Options = options;
    }

    public TokenServerOptions Options { get; }

    public string Service => Options.Service;

    public string Issuer => Options.Issuer;

    /// <summary>The token endpoint, <c>http://127.0.0.1:PORT/token</c>: the registry's <c>auth.token.realm</c>.</summary>
    public Uri Realm { get; private set; } = null!;

    /// <summary>The signing certificate as PEM: the registry's <c>auth.token.rootcertbundle</c>.</summary>
    public string SigningCertificatePem => _signer.CertificatePem;

    /// <summary>A snapshot of every request so far, oldest first.</summary>
    public IReadOnlyList<TokenRequest> Requests => [.. _requests];

    /// <summary>Every token issued so far (secrets too: the secret scans look for them in logs).</summary>
    public IReadOnlyList<string> IssuedTokens => [.. _issued];

    /// <summary>
    /// How many recorded requests asked for <paramref name="scope"/>, e.g. <c>repository:a/b:pull,push</c>. Type and name
    /// must be equal and the actions the same set, in any order (clients and registries do not keep one order).
    /// </summary>
    public int CountRequests(string scope)
    {
        var wanted = TokenAccess.TryParse(scope) ?? throw new ArgumentException($"'{scope}' is not a type:name:actions scope.", nameof(scope));
        return _requests.Count(r => r.Scopes.Any(s => TokenAccess.TryParse(s) is { } requested && requested.SameAs(wanted)));
    }

    /// <summary>The recorded requests with a scope on <paramref name="repository"/> (any actions).</summary>
    public IReadOnlyList<TokenRequest> RequestsFor(string repository) =>
        [.. _requests.Where(r => r.Scopes.Any(s => TokenAccess.TryParse(s) is { Type: "repository" } access && access.Name == repository))];

    public static async Task<TokenServer> StartAsync(TokenServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TokenServerOptions();
        // The empty builder reads no configuration (no appsettings.json watcher, no ASPNETCORE_* variables) and logs nothing.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton<IHostLifetime, InertHostLifetime>();

        var app = builder.Build();
        var server = new TokenServer(app, TestCertificates.CreateTokenSigningCertificate(), options);
        app.MapGet("/token", server.HandleAsync);
        app.MapPost("/token", server.HandleAsync);
        await app.StartAsync(cancellationToken);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var port = new Uri(address).Port;
        server.Realm = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/token");
        return server;
    }

    /// <summary>Asks this server for a token the way a registry client does (GET with one <c>scope</c> per scope).</summary>
    public async Task<string> GetTokenAsync(IEnumerable<string> scopes, string? username = null, string? password = null, CancellationToken cancellationToken = default)
    {
        var query = new StringBuilder("?service=").Append(Uri.EscapeDataString(Service));
        foreach (var scope in scopes)
        {
            query.Append("&scope=").Append(Uri.EscapeDataString(scope));
        }

        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Realm, query.ToString()));
        if (username is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{password}")));
        }

        using var response = await client.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"The token server answered {(int)response.StatusCode}: {body}", null, response.StatusCode);
        }

        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("token").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _signer.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var isPost = HttpMethods.IsPost(request.Method);
        IFormCollection? form = isPost && request.HasFormContentType ? await request.ReadFormAsync(context.RequestAborted) : null;

        var scopes = Split(request.Query["scope"]).Concat(Split(form?["scope"] ?? StringValues.Empty)).ToList();
        var service = form?["service"].FirstOrDefault() ?? request.Query["service"].FirstOrDefault();

        string? user = null;
        string? attemptedUser = request.Query["account"].FirstOrDefault();
        var status = StatusCodes.Status200OK;
        string? error = null;
        var issueRefreshToken = false;

        if (service is not null && service != Service)
        {
            status = StatusCodes.Status400BadRequest;
            error = $"unknown service '{service}'";
        }
        else if (form is not null && form["grant_type"].FirstOrDefault() is { } grantType)
        {
            switch (grantType)
            {
                case "password":
                    attemptedUser = form["username"].FirstOrDefault();
                    if (attemptedUser is not null && IsValid(attemptedUser, form["password"].FirstOrDefault()))
                    {
                        user = attemptedUser;
                        issueRefreshToken = form["access_type"].FirstOrDefault() == "offline";
                    }
                    else
                    {
                        status = StatusCodes.Status401Unauthorized;
                        error = "bad credentials";
                    }

                    break;
                case "refresh_token":
                    if (form["refresh_token"].FirstOrDefault() is { } refresh && _refreshTokens.TryGetValue(refresh, out var owner))
                    {
                        user = owner;
                        attemptedUser = owner;
                    }
                    else
                    {
                        status = StatusCodes.Status401Unauthorized;
                        error = "unknown refresh token";
                    }

                    break;
                default:
                    status = StatusCodes.Status400BadRequest;
                    error = $"unsupported grant_type '{grantType}'";
                    break;
            }
        }
        else if (TryReadBasic(request, out var basicUser, out var basicPassword))
        {
            attemptedUser = basicUser;
            if (IsValid(basicUser, basicPassword))
            {
                user = basicUser;
            }
            else
            {
                status = StatusCodes.Status401Unauthorized;
                error = "bad credentials";
            }
        }

        var now = DateTimeOffset.UtcNow;
        _requests.Enqueue(new TokenRequest(now, request.Method, user, attemptedUser, scopes, status));

        var response = context.Response;
        response.ContentType = "application/json";
        response.StatusCode = status;
        if (error is not null)
        {
            if (status == StatusCodes.Status401Unauthorized)
            {
                response.Headers.WWWAuthenticate = "Basic realm=\"multiarch-test-token-server\"";
            }

            await response.Body.WriteAsync(ErrorBody(status == StatusCodes.Status401Unauthorized ? "UNAUTHORIZED" : "UNSUPPORTED", error), context.RequestAborted);
            return;
        }

        var access = Grant(user, scopes);
        var token = CreateJwt(user, access, now);
        _issued.Enqueue(token);
        string? refreshToken = null;
        if (issueRefreshToken)
        {
            refreshToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            _refreshTokens[refreshToken] = user!;
        }

        await response.Body.WriteAsync(TokenBody(token, now, refreshToken), context.RequestAborted);
    }

    private bool IsValid(string user, string? password) =>
        password is not null && Options.Users.TryGetValue(user, out var expected) && expected == password;

    private IReadOnlyList<TokenAccess> Grant(string? user, IEnumerable<string> scopes)
    {
        var granted = new List<TokenAccess>();
        foreach (var scope in scopes)
        {
            if (TokenAccess.TryParse(scope) is not { } requested)
            {
                continue;
            }

            IReadOnlyList<string> actions = user is not null
                ? requested.Actions
                : Options.AllowAnonymousPull && requested.Type == "repository" ? [.. requested.Actions.Where(a => a == "pull")] : [];
            if (actions.Count > 0)
            {
                granted.Add(requested with { Actions = [.. actions.Distinct(StringComparer.Ordinal)] });
            }
        }

        return granted;
    }

    /// <summary>An RS256 JWT with an <c>x5c</c> header (standard padded base64 DER), <c>aud</c> as a string and integer times.</summary>
    private string CreateJwt(string? user, IReadOnlyList<TokenAccess> access, DateTimeOffset now)
    {
        var header = Json(writer =>
        {
            writer.WriteString("typ", "JWT");
            writer.WriteString("alg", "RS256");
            writer.WriteStartArray("x5c");
            writer.WriteStringValue(Convert.ToBase64String(_signer.Certificate.RawData));
            writer.WriteEndArray();
        });
        var issuedAt = now.ToUnixTimeSeconds();
        var claims = Json(writer =>
        {
            writer.WriteString("iss", Issuer);
            writer.WriteString("sub", user ?? string.Empty);
            writer.WriteString("aud", Service);
            writer.WriteNumber("exp", issuedAt + (long)Options.TokenLifetime.TotalSeconds);
            writer.WriteNumber("nbf", issuedAt - 10);
            writer.WriteNumber("iat", issuedAt);
            writer.WriteString("jti", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
            writer.WriteStartArray("access");
            foreach (var entry in access)
            {
                writer.WriteStartObject();
                writer.WriteString("type", entry.Type);
                writer.WriteString("name", entry.Name);
                writer.WriteStartArray("actions");
                foreach (var action in entry.Actions)
                {
                    writer.WriteStringValue(action);
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        });
        var signingInput = Base64Url(header) + "." + Base64Url(claims);
        var rsa = (RSA)_signer.Key;
        var signature = rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    private byte[] TokenBody(string token, DateTimeOffset now, string? refreshToken) => Json(writer =>
    {
        writer.WriteString("token", token);
        writer.WriteString("access_token", token);
        writer.WriteNumber("expires_in", (long)Options.TokenLifetime.TotalSeconds);
        writer.WriteString("issued_at", now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        if (refreshToken is not null)
        {
            writer.WriteString("refresh_token", refreshToken);
        }
    });

    private static byte[] ErrorBody(string code, string message) => Json(writer =>
    {
        writer.WriteStartArray("errors");
        writer.WriteStartObject();
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
        writer.WriteEndArray();
    });

    private static byte[] Json(Action<Utf8JsonWriter> writeProperties)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, _compactJson))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static IEnumerable<string> Split(StringValues values) =>
        values.SelectMany(v => (v ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static bool TryReadBasic(HttpRequest request, out string user, out string password)
    {
        user = password = string.Empty;
        if (!AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var header) ||
            !string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase) || header.Parameter is null)
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter));
        }
        catch (FormatException)
        {
            return true; // present but unreadable: refused as bad credentials
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            user = decoded;
            return true;
        }

        user = decoded[..colon];
        password = decoded[(colon + 1)..];
        return true;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Keeps the host from hooking Ctrl+C/SIGTERM of the test process: the fixture starts and stops it.</summary>
    private sealed class InertHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
