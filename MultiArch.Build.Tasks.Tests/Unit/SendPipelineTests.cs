using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Authentication;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>
/// Each part of the registry client's send pipeline on its own, over a scripted inner part: what it sends on, what it
/// retries, follows, switches or authenticates, and what it refuses. (The parts together, against real registries, are
/// the Registry/ tests.)
/// </summary>
[TestClass]
public sealed class SendPipelineTests
{
    private static readonly RegistryRequest s_get = new("registry.test", HttpMethod.Get, "/v2/app/manifests/1") { Accept = ["application/vnd.oci.image.index.v1+json"] };

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    // ---------------------------------------------------------------- RegistryFailures

    [TestMethod]
    [DataRow(408, true)]
    [DataRow(429, true)]
    [DataRow(500, true)]
    [DataRow(503, true)]
    [DataRow(400, false)]
    [DataRow(401, false)]
    [DataRow(404, false)]
    [DataRow(307, false)]
    public void TransientStatuses_AreDecidedInOnePlace(int status, bool transient) =>
        Assert.AreEqual(transient, RegistryFailures.IsTransient((HttpStatusCode)status));

    [TestMethod]
    public void TransientExceptions_ExcludeTlsFailuresAndBrokenSources()
    {
        Assert.IsTrue(RegistryFailures.IsTransient(new HttpRequestException("reset", new IOException("reset"))));
        Assert.IsTrue(RegistryFailures.IsTransient(new TimeoutException("headers")));
        Assert.IsFalse(RegistryFailures.IsTransient(new HttpRequestException("tls", new AuthenticationException("bad certificate"))));
        var source = new SourceBodyException(MultiArchException.Create(MessageId.SourceBlobFailed, "sha256:x", "src", 1, 2, "dst", "cut"), new IOException("cut"));
        Assert.IsFalse(RegistryFailures.IsTransient(new HttpRequestException("copy", source)));
    }

    [TestMethod]
    public void ApiAuthority_MapsDockerHub()
    {
        Assert.AreEqual("registry-1.docker.io", RegistryRequest.ApiAuthority("docker.io"));
        Assert.AreEqual("r.io:1", RegistryRequest.ApiAuthority("r.io:1"));
    }

    // ---------------------------------------------------------------- RetryHandler

    [TestMethod]
    public async Task Retry_TransientAnswers_AreTriedAgain_AndTheAttemptsRecorded()
    {
        var inner = new Scripted(_ => Answer(503), _ => Answer(503), _ => Answer(200));
        var retry = new RetryHandler(Settings(), inner, r => r.UriFor("https"));

        using var response = await retry.SendAsync(s_get, Cancel);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.HasCount(3, inner.Sent);
        Assert.IsTrue(response.RequestMessage!.Options.TryGetValue(RegistryWire.Attempts, out var attempts));
        Assert.AreEqual(3, attempts);
    }

    [TestMethod]
    public async Task Retry_AnUploadPost_IsNeverSentTwice()
    {
        var inner = new Scripted(_ => Answer(503), _ => Answer(202));
        var retry = new RetryHandler(Settings(), inner, r => r.UriFor("https"));

        using var response = await retry.SendAsync(new RegistryRequest("registry.test", HttpMethod.Post, "/v2/app/blobs/uploads/"), Cancel);

        Assert.AreEqual(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.HasCount(1, inner.Sent);
    }

    [TestMethod]
    public async Task Retry_ConnectionRefused_WhereNothingEverAnswered_IsMULTIARCH1023AtOnce_ButRetriedWhereSomethingDid()
    {
        var refused = new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused));
        var settings = Settings();
        var inner = new Scripted(_ => throw refused, _ => Answer(200));
        var retry = new RetryHandler(settings, inner, r => r.UriFor("https"));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => retry.SendAsync(s_get, Cancel));

        Assert.AreEqual("MULTIARCH1023", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "registry.test:443");
        Assert.HasCount(1, inner.Sent);

        settings.State.MarkAnswered("registry.test"); // Uri.Authority: the default port left out
        inner = new Scripted(_ => throw refused, _ => Answer(200));
        using var response = await new RetryHandler(settings, inner, r => r.UriFor("https")).SendAsync(s_get, Cancel);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.HasCount(2, inner.Sent);
    }

    // ---------------------------------------------------------------- RedirectHandler

    [TestMethod]
    [DataRow(301)]
    [DataRow(302)]
    [DataRow(303)]
    [DataRow(307)]
    [DataRow(308)]
    public async Task Redirect_IsFollowedAsAHopOfItsOwn_KeepingAccept(int status)
    {
        var inner = new Scripted(_ => Redirect(status, "https://mirror.test/v2/app/manifests/1?sig=a%2Fb"), _ => Answer(200));
        var redirects = new RedirectHandler(inner, r => r.UriFor("https"));

        using var response = await redirects.SendAsync(s_get with { FollowRedirects = true }, Cancel);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        var hop = inner.Sent[1];
        Assert.IsTrue(hop.IsRedirectHop && hop.AbsoluteLocation);
        Assert.AreEqual("https://mirror.test/v2/app/manifests/1?sig=a%2Fb", hop.PathAndQuery, "the query kept as it was escaped");
        CollectionAssert.AreEqual(s_get.Accept.ToList(), hop.Accept.ToList());
    }

    [TestMethod]
    public async Task Redirect_NotAskedFor_IsReturnedAsItIs()
    {
        var inner = new Scripted(_ => Redirect(307, "https://storage.test/blob"));

        using var response = await new RedirectHandler(inner, r => r.UriFor("https")).SendAsync(s_get, Cancel);

        Assert.AreEqual(HttpStatusCode.TemporaryRedirect, response.StatusCode);
        Assert.HasCount(1, inner.Sent);
    }

    [TestMethod]
    public async Task Redirect_FromHttpsToPlainHttp_IsMULTIARCH1020()
    {
        var inner = new Scripted(_ => Redirect(302, "http://mirror.test/v2/app/manifests/1"));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => new RedirectHandler(inner, r => r.UriFor("https")).SendAsync(s_get with { FollowRedirects = true }, Cancel));

        Assert.AreEqual("MULTIARCH1020", ex.Code, ex.Message);
        Assert.HasCount(1, inner.Sent);
    }

    [TestMethod]
    public async Task Redirect_ChainLongerThanTen_IsMULTIARCH1024()
    {
        var inner = new Scripted(Enumerable.Repeat<Func<RegistryRequest, HttpResponseMessage>>(_ => Redirect(308, "/v2/app/manifests/1"), 20).ToArray());

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => new RedirectHandler(inner, r => r.UriFor("https")).SendAsync(s_get with { FollowRedirects = true }, Cancel));

        Assert.AreEqual("MULTIARCH1024", ex.Code, ex.Message);
        Assert.HasCount(RedirectHandler.MaxRedirects + 1, inner.Sent);
    }

    // ---------------------------------------------------------------- SchemeHandler

    [TestMethod]
    public async Task Scheme_InsecureRegistryWithoutTls_SwitchesToPlainHttp_OthersFail()
    {
        var tls = new HttpRequestException("handshake", new AuthenticationException("not TLS"));
        var insecure = Settings() with { InsecureRegistries = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "registry.test" } };
        var inner = new Scripted(_ => throw tls, _ => Answer(200));

        using var response = await new SchemeHandler(insecure, inner).SendAsync(s_get, Cancel);

        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.AreEqual("http", insecure.State.GetScheme("registry.test"));
        var secure = new Scripted(_ => throw tls);
        await Assert.ThrowsAsync<HttpRequestException>(() => new SchemeHandler(Settings(), secure).SendAsync(s_get, Cancel));
    }

    // ---------------------------------------------------------------- AuthHandler

    [TestMethod]
    public async Task Auth_BasicChallenge_IsAnsweredOnce_AndARedirectHopElsewhereGetsNoCredentials()
    {
        var settings = Settings();
        using var wire = new RegistryWire(settings);
        var tokens = new TokenService(settings, wire);
        var inner = new Scripted(
            _ => Challenge("Basic realm=\"test\""),
            r => r.Authorization is { Scheme: "Basic" } ? Answer(200) : Challenge("Basic realm=\"test\""),
            _ => Answer(200));
        var auth = new AuthHandler(settings, tokens, inner, wire.UriOf);

        using (var response = await auth.SendAsync(s_get, Cancel))
        {
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        }

        using (await auth.SendAsync(s_get with { PathAndQuery = "https://mirror.test/v2/app/manifests/1", AbsoluteLocation = true, IsRedirectHop = true }, Cancel))
        {
        }

        Assert.IsNull(inner.Sent[0].Authorization);
        Assert.AreEqual("Basic", inner.Sent[1].Authorization?.Scheme);
        Assert.IsNull(inner.Sent[2].Authorization, "another origin never gets the registry's credentials");
    }

    // ---------------------------------------------------------------- helpers

    private static RegistrySettings Settings() => new()
    {
        Credentials = new FixedCredentials(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        TransportFactory = () => new Scripted(),
    };

    private static HttpResponseMessage Answer(int status) => new((HttpStatusCode)status) { RequestMessage = new HttpRequestMessage() };

    private static HttpResponseMessage Redirect(int status, string location)
    {
        var response = Answer(status);
        response.Headers.Location = new Uri(location, UriKind.RelativeOrAbsolute);
        return response;
    }

    private static HttpResponseMessage Challenge(string challenge)
    {
        var response = Answer(401);
        response.Headers.TryAddWithoutValidation("WWW-Authenticate", challenge);
        return response;
    }

    /// <summary>An inner part that answers each request with the next step of its script, and records what it was sent.</summary>
    private sealed class Scripted(params Func<RegistryRequest, HttpResponseMessage>[] steps) : HttpMessageHandler, IRegistrySender
    {
        public List<RegistryRequest> Sent { get; } = [];

        public Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
        {
            Sent.Add(request);
            return Task.FromResult(steps[Sent.Count - 1](request));
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("nothing goes to the network in these tests");
    }

    private sealed class FixedCredentials : ICredentialProvider
    {
        public Task<RegistryCredential?> GetCredentialAsync(string registry, RegistryAccess access, CancellationToken cancellationToken) =>
            Task.FromResult<RegistryCredential?>(new RegistryCredential("user", "canary-unit", null, "a test"));
    }
}
