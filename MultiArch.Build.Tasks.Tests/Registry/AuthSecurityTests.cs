using System.Net;
using System.Net.Http.Headers;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Where credentials go and how authentication recovers: one re-authentication with a fresh token when a token expires
/// mid-operation; at most two token requests per scope with bad credentials; credentials only to the registry's origin,
/// a token realm on its host or one the user trusts, never over plain HTTP to a registry that is not insecure, never on
/// a redirect or an upload location at another origin; a challenge from another origin never changes the registry's.
/// The proxies record every header they see: the proof that nothing went where it must not.
/// </summary>
[TestClass]
public sealed class AuthSecurityTests : RegistryTestBase
{
    // ---------------------------------------------------------------- token expiry and bad credentials

    [TestMethod]
    public async Task TokenExpiredMidOperation_IsReplacedOnce_AndTheRequestReplayedWithTheFreshToken()
    {
        var (server, repository, image) = await SeedTokenRegistryAsync("auth-expire");
        var proxy = await ProxyAsync(server);
        using var client = ReliabilityKit.Client(proxy);
        var reference = ImageReference.Parse(proxy.Reference(repository, "1"));
        var scope = $"repository:{repository}:pull";
        await client.GetManifestAsync(reference, Cancel);
        Assert.AreEqual(1, server.TokenServer!.CountRequests(scope));

        proxy.When(r => r.Is("HEAD", "/manifests/"), FaultAction.ExpireToken, times: 1);
        var head = await client.HeadManifestAsync(reference, Cancel);

        Assert.AreEqual(image.Digest, head?.Digest);
        Assert.AreEqual(2, server.TokenServer.CountRequests(scope), "exactly one fresh token");
        var heads = proxy.ExchangesFor(r => r.Is("HEAD", "/manifests/"));
        Assert.HasCount(2, heads, proxy.Transcript());
        Assert.AreEqual(401, heads[0].Status);
        Assert.AreEqual(200, heads[1].Status);
        Assert.AreNotEqual(heads[0].Request.Headers["Authorization"], heads[1].Request.Headers["Authorization"], "the replay carries the fresh token");
    }

    [TestMethod]
    public async Task TokenExpiringAgainAndAgain_IsRefreshedEachTime()
    {
        var (server, repository, image) = await SeedTokenRegistryAsync("auth-expire-often");
        var proxy = await ProxyAsync(server);
        using var client = ReliabilityKit.Client(proxy);
        var reference = ImageReference.Parse(proxy.Reference(repository, "1"));
        await client.GetManifestAsync(reference, Cancel);

        for (var i = 0; i < 4; i++)
        {
            proxy.When(r => r.Is("HEAD", "/manifests/"), FaultAction.ExpireToken, times: 1);
            Assert.AreEqual(image.Digest, (await client.HeadManifestAsync(reference, Cancel))?.Digest, $"expiry {i + 1}");
        }

        Assert.AreEqual(5, server.TokenServer!.CountRequests($"repository:{repository}:pull"), "one token, then one per expiry");
    }

    [TestMethod]
    public async Task TokenRefusedTwiceForOneRequest_ReauthenticatesOnlyOnce()
    {
        var (server, repository, _) = await SeedTokenRegistryAsync("auth-expire-twice");
        var proxy = await ProxyAsync(server);
        using var client = ReliabilityKit.Client(proxy);
        var reference = ImageReference.Parse(proxy.Reference(repository, "1"));
        await client.GetManifestAsync(reference, Cancel);
        proxy.When(r => r.Is("HEAD", "/manifests/"), FaultAction.ExpireToken, times: 2);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.HeadManifestAsync(reference, Cancel));

        Assert.AreEqual("MULTIARCH1003", ex.Code, ex.Message);
        Assert.HasCount(2, proxy.ExchangesFor(r => r.Is("HEAD", "/manifests/")), proxy.Transcript());
        Assert.AreEqual(2, server.TokenServer!.CountRequests($"repository:{repository}:pull"));
    }

    [TestMethod]
    public async Task BadCredentials_AtMostTwoTokenRequestsPerScope_HoweverManyRequests()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("auth-lockout");
        var proxy = await ProxyAsync(server);
        var environment = TestClients.Environment(proxy);
        environment["MULTIARCH_REGISTRY_PASSWORD"] = "wrong-canary-password";
        using var client = ReliabilityKit.Client(proxy, environment: environment);
        var reference = ImageReference.Parse(proxy.Reference(repository, "1"));

        var failures = new List<MultiArchException>();
        for (var i = 0; i < 5; i++)
        {
            failures.Add(await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(reference, Cancel)));
        }

        failures.AddRange(await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Assert.ThrowsAsync<MultiArchException>(() => client.HeadManifestAsync(reference, Cancel)))));

        Assert.IsLessThanOrEqualTo(2, server.TokenServer!.RequestsFor(repository).Count, string.Join('\n', failures.Select(f => f.Message)));
        Assert.IsTrue(failures.All(f => f.Code is "MULTIARCH1003" or "MULTIARCH1009"), string.Join('\n', failures.Select(f => f.Code + " " + f.Message)));
        Assert.IsTrue(failures.All(f => !f.ToString().Contains("wrong-canary-password", StringComparison.Ordinal)));
    }

    // ---------------------------------------------------------------- where a token realm may be

    [TestMethod]
    public async Task RealmOnAnotherHost_GetsNoCredentials_UnlessTrusted()
    {
        var (server, repository, image) = await SeedTokenRegistryAsync("auth-realm-host");
        var proxy = await ProxyAsync(server);
        var tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, host: "localhost", Cancel);
        Resources.Add(tokens);
        var target = ImageReference.Parse(proxy.Reference(repository, "2"));

        using (var client = ReliabilityKit.Client(proxy))
        {
            var manifest = await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel);
            Assert.AreEqual(image.Digest, manifest.Digest, "an anonymous token from that realm is fine for a pull");
            var push = await Assert.ThrowsAsync<MultiArchException>(() => client.UploadBlobAsync(target, "x"u8.ToArray(), Cancel));
            Assert.AreEqual("MULTIARCH1012", push.Code, push.Message);
            StringAssert.Contains(push.Message, $"http://localhost:{tokens.Port}/token");
            StringAssert.Contains(push.Message, "ContainerRegistryTrustedRealms");
        }

        Assert.IsNotEmpty(tokens.Exchanges);
        Assert.IsTrue(tokens.Exchanges.All(e => !e.Request.Headers.ContainsKey("Authorization")), "no credentials to an untrusted realm\n" + tokens.Transcript());

        var mark = tokens.Mark;
        using (var trusting = ReliabilityKit.Client(proxy, configure: s => s with { TrustedRealmHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost" } }))
        {
            await trusting.UploadBlobAsync(target, "x"u8.ToArray(), Cancel);
        }

        Assert.IsTrue(tokens.ExchangesSince(mark).Any(e => e.Request.Headers.TryGetValue("Authorization", out var value) && value.StartsWith("Basic ", StringComparison.Ordinal)));
    }

    [TestMethod]
    public async Task HttpsRegistryWithAPlainHttpRealm_IsRefused_BeforeAnyTokenRequest()
    {
        var (server, repository, _) = await SeedTokenRegistryAsync("auth-realm-scheme");
        var proxy = Resources.Add(await FaultProxy.StartHttpsAsync(server, Cancel));
        var environment = TestClients.Environment(server);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        using var client = ReliabilityKit.Client(proxy, environment: environment);
        var before = server.TokenServer!.Requests.Count;

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel));

        Assert.AreEqual("MULTIARCH1009", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "the token service is plain HTTP and the registry is not listed as insecure");
        Assert.AreEqual(before, server.TokenServer.Requests.Count, "no token request at all");
        Assert.IsTrue(proxy.Exchanges.All(e => !e.Request.Headers.ContainsKey("Authorization")));
    }

    [TestMethod]
    public async Task PlainHttpRegistryNotListedInsecure_IsNeverSentAnything()
    {
        var server = await TestRegistries.Basic;
        var proxy = await ProxyAsync(server);
        var environment = TestClients.Environment(proxy);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        using var client = ReliabilityKit.Client(proxy, environment: environment);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference("any/repo", "1")), Cancel));

        Assert.AreEqual("MULTIARCH1007", ex.Code, ex.Message);
        Assert.IsEmpty(proxy.Exchanges, "only a TLS handshake reached the plain-HTTP port: no HTTP request, no credentials");
    }

    // ---------------------------------------------------------------- redirects and upload locations

    [TestMethod]
    [DataRow("127.0.0.1", DisplayName = "another port on the registry's host")]
    [DataRow("localhost", DisplayName = "another host name")]
    public async Task RedirectToAnotherOrigin_CarriesNoAuthorization(string host)
    {
        var (server, repository, image) = await SeedBasicRegistryAsync("auth-redirect");
        var proxy = await ProxyAsync(server);
        var storage = await StorageAsync(server);
        proxy.When(r => r.Is("GET", "/blobs/"), FaultAction.Redirect(r => $"http://{host}:{storage.Port}{r.Path}?X-Signature=abc"));
        var environment = TestClients.Environment(proxy);
        TestClients.AddInsecure(environment, $"localhost:{storage.Port}");
        using var client = ReliabilityKit.Client(proxy, environment: environment);
        var config = new Descriptor(image.ConfigMediaType, image.ConfigDigest, image.Config.Length);
        await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel); // learns the Basic challenge

        var bytes = await client.GetBlobAsync(ImageReference.Parse(proxy.Reference(repository, "1")), config, Cancel);

        CollectionAssert.AreEqual(image.Config, bytes);
        var redirect = proxy.ExchangesFor(r => r.IsBlob).Single(e => e.Status == 307);
        StringAssert.StartsWith(redirect.Request.Headers["Authorization"], "Basic ", "the registry's own request is authenticated");
        var redirected = storage.Exchanges.Single();
        Assert.AreEqual("?X-Signature=abc", redirected.Request.Query);
        Assert.IsFalse(redirected.Request.Headers.ContainsKey("Authorization"), "no Authorization to another origin");
    }

    [TestMethod]
    public async Task RedirectToAnOriginThatChallenges_GetsNoCredentials_AndIsNotAdopted()
    {
        var (server, repository, image) = await SeedBasicRegistryAsync("auth-redirect-challenge");
        var proxy = await ProxyAsync(server);
        var evil = await ProxyAsync(server);
        evil.When(r => r.Path != "/token", FaultAction.Respond(401, new Dictionary<string, string> { ["WWW-Authenticate"] = $"Bearer realm=\"http://127.0.0.1:{evil.Port}/token\",service=\"evil\"" }));
        proxy.When(r => r.Is("GET", "/blobs/"), FaultAction.Redirect(r => $"http://127.0.0.1:{evil.Port}{r.Path}"), times: 1);
        using var client = ReliabilityKit.Client(proxy);
        var config = new Descriptor(image.ConfigMediaType, image.ConfigDigest, image.Config.Length);
        await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel); // holds Basic credentials from here on

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetBlobAsync(ImageReference.Parse(proxy.Reference(repository, "1")), config, Cancel));
        var after = await client.GetBlobAsync(ImageReference.Parse(proxy.Reference(repository, "1")), config, Cancel);

        StringAssert.StartsWith(ex.Code, "MULTIARCH100");
        CollectionAssert.AreEqual(image.Config, after, "the registry's own challenge (Basic) still holds");
        Assert.IsTrue(evil.Exchanges.All(e => !e.Request.Headers.ContainsKey("Authorization")), evil.Transcript());
        // The other origin may get a token of its own from the realm it names (a mirror does), but asked anonymously.
        Assert.IsTrue(evil.Exchanges.Where(e => e.Request.Path == "/token").All(e => !e.Request.Headers.ContainsKey("Authorization")), evil.Transcript());
    }

    [TestMethod]
    public async Task HttpsRegistryRedirectingToPlainHttp_IsNotFollowed_MULTIARCH1020()
    {
        var (server, repository, image) = await SeedBasicRegistryAsync("auth-redirect-http");
        var proxy = Resources.Add(await FaultProxy.StartHttpsAsync(server, Cancel));
        var storage = await StorageAsync(server);
        proxy.When(r => r.Is("GET", "/blobs/"), FaultAction.Redirect(r => $"http://127.0.0.1:{storage.Port}{r.Path}"));
        var environment = TestClients.Environment(server);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        using var client = ReliabilityKit.Client(proxy, environment: environment);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetBlobAsync(ImageReference.Parse(proxy.Reference(repository, "1")), new Descriptor(image.ConfigMediaType, image.ConfigDigest, image.Config.Length), Cancel));

        Assert.AreEqual("MULTIARCH1020", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"http://127.0.0.1:{storage.Port}/v2/{repository}/blobs/{image.ConfigDigest}");
        Assert.IsEmpty(storage.Exchanges);
    }

    [TestMethod]
    public async Task UploadLocationAtAnotherOrigin_GetsNoCredentials_AndItsChallengeIsNotAdopted()
    {
        var (server, repository, image) = await SeedTokenRegistryAsync("auth-location");
        var proxy = await ProxyAsync(server);
        var storage = await StorageAsync(server, repository);
        var evilRealm = Resources.Add(await FaultProxy.StartAsync(new Uri("http://127.0.0.1:9"), cancellationToken: Cancel));
        var evil = await ProxyAsync(server);
        evil.When(_ => true, FaultAction.Respond(401, new Dictionary<string, string> { ["WWW-Authenticate"] = $"Bearer realm=\"http://127.0.0.1:{evilRealm.Port}/token\",service=\"evil\",scope=\"repository:{repository}:pull,push\"" }));
        var moveTo = storage;
        proxy.When(r => r.Is("POST", "/blobs/uploads/"), FaultAction.RewriteHeader("Location", location => location?.Replace(proxy.BaseUri.GetLeftPart(UriPartial.Authority), moveTo.BaseUri.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal)));
        using var client = ReliabilityKit.Client(proxy);
        var target = ImageReference.Parse(proxy.Reference(repository, "2"));

        await client.UploadBlobAsync(target, "stored elsewhere"u8.ToArray(), Cancel);
        moveTo = evil;
        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.UploadBlobAsync(target, "refused elsewhere"u8.ToArray(), Cancel));
        var manifest = await client.GetManifestAsync(ImageReference.Parse(proxy.Reference(repository, "1")), Cancel);

        Assert.IsTrue(proxy.ExchangesFor(r => r.Is("POST", "/blobs/uploads/")).Any(e => e.Request.Headers.TryGetValue("Authorization", out var value) && value.StartsWith("Bearer ", StringComparison.Ordinal)));
        var put = storage.ExchangesFor(r => r.Method == "PUT").Single();
        Assert.AreEqual(201, put.Status);
        Assert.IsFalse(put.Request.Headers.ContainsKey("Authorization"), "no token to another origin");
        StringAssert.StartsWith(ex.Code, "MULTIARCH100");
        Assert.IsTrue(evil.Exchanges.All(e => !e.Request.Headers.ContainsKey("Authorization")));
        Assert.AreEqual(image.Digest, manifest.Digest, "the registry's own realm still serves the client");
        Assert.IsEmpty(evilRealm.Exchanges, "the other origin's realm was never asked (with or without credentials)");
    }

    [TestMethod]
    public async Task LocationsOnTheRegistryHost_ButAnotherPortOrPlainHttp_GetNoCredentials()
    {
        // Default ports can't be bound in tests; a scripted HTTPS registry on 443 stands in for the real thing.
        var handler = new ScriptedRegistry("registry.test");
        var environment = new Dictionary<string, string?>
        {
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "canary-default-port",
            ["HOME"] = Path.Combine(Path.GetTempPath(), "multiarch-tests", "no-home"),
        };
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance) with { TransportFactory = () => handler, RetryBaseDelay = ReliabilityKit.FastRetry };
        using var client = new RegistryClient(settings);
        var target = ImageReference.Parse("registry.test/app:1");

        handler.UploadLocation = "https://registry.test:8443/v2/app/blobs/uploads/u1";
        await client.UploadBlobAsync(target, "one"u8.ToArray(), Cancel);
        handler.UploadLocation = "https://registry.test:443/v2/app/blobs/uploads/u2";
        await client.UploadBlobAsync(target, "two"u8.ToArray(), Cancel);
        handler.UploadLocation = "http://registry.test/v2/app/blobs/uploads/u3";
        var downgrade = await Assert.ThrowsAsync<MultiArchException>(() => client.UploadBlobAsync(target, "three"u8.ToArray(), Cancel));

        Assert.AreEqual("MULTIARCH1020", downgrade.Code, downgrade.Message);
        var puts = handler.Requests.Where(r => r.Method == "PUT").ToList();
        Assert.HasCount(2, puts, string.Join('\n', handler.Requests));
        Assert.IsNull(puts[0].Authorization, "port 8443 is another origin");
        Assert.AreEqual("Basic", puts[1].Authorization, "https://registry.test:443 is the registry's own origin");
        Assert.IsFalse(handler.Requests.Any(r => r.Uri.Scheme == "http"), "nothing over plain HTTP");

        // A registry on a port of its own: the same host on the default port is another origin.
        var onPort = new ScriptedRegistry("registry.test", 8443) { UploadLocation = "https://registry.test/v2/app/blobs/uploads/u4" };
        using var portClient = new RegistryClient(settings with { TransportFactory = () => onPort });
        await portClient.UploadBlobAsync(ImageReference.Parse("registry.test:8443/app:1"), "four"u8.ToArray(), Cancel);
        Assert.IsNull(onPort.Requests.Single(r => r.Method == "PUT").Authorization, "https://registry.test (443) is not https://registry.test:8443");

        // Even a registry listed as insecure (so plain HTTP may be followed) keeps its credentials off another scheme.
        var insecure = new ScriptedRegistry("registry.test") { UploadLocation = "http://registry.test/v2/app/blobs/uploads/u5" };
        var insecureSettings = settings with { TransportFactory = () => insecure, InsecureRegistries = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "registry.test" } };
        using var insecureClient = new RegistryClient(insecureSettings);
        await insecureClient.UploadBlobAsync(target, "five"u8.ToArray(), Cancel);
        var plainPut = insecure.Requests.Single(r => r.Method == "PUT");
        Assert.AreEqual("http", plainPut.Uri.Scheme);
        Assert.IsNull(plainPut.Authorization, "http://registry.test is not https://registry.test: no credentials in clear text");
    }

    // ---------------------------------------------------------------- what the client writes down

    [TestMethod]
    [DataRow(RegistryMode.Basic, "right", DisplayName = "Basic, accepted")]
    [DataRow(RegistryMode.Basic, "wrong", DisplayName = "Basic, refused")]
    [DataRow(RegistryMode.Token, "right", DisplayName = "token, accepted")]
    [DataRow(RegistryMode.Token, "wrong", DisplayName = "token, refused")]
    [DataRow(RegistryMode.Token, "realm", DisplayName = "token, realm not trusted")]
    [DataRow(RegistryMode.Token, "expired", DisplayName = "token, expired mid-operation")]
    public async Task EveryAuthPath_LogLinesAndExceptionTexts_HoldNoSecret(RegistryMode mode, string path)
    {
        var server = await TestRegistries.Get(mode);
        var repository = TestNames.Repository("auth-scan");
        var proxy = await ProxyAsync(server);
        var environment = TestClients.Environment(proxy);
        var password = path == "wrong" ? "wrong+" + Guid.NewGuid().ToString("N") + "/=&%" : server.Password!;
        environment["MULTIARCH_REGISTRY_PASSWORD"] = password;
        FaultProxy? tokens = null;
        if (path == "realm")
        {
            tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, "localhost", Cancel);
            Resources.Add(tokens);
        }

        if (path == "expired")
        {
            proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.ExpireToken, times: 1);
        }

        var log = new RecordingLog();
        var texts = new List<string>();
        using (var client = ReliabilityKit.Client(proxy, log, environment: environment))
        {
            var image = TestImages.Image(TestImages.LinuxAmd64, "scan");
            var target = ImageReference.Parse(proxy.Reference(repository, "1"));
            try
            {
                foreach (var blob in image.Blobs)
                {
                    await client.UploadBlobAsync(target, blob.Bytes, Cancel);
                }

                await client.PutManifestAsync(target, Oci.ManifestContent.Parse(image.Manifest, image.MediaType, target.ToString()), Cancel);
                await client.GetManifestAsync(target, Cancel);
                Assert.IsTrue(path is "right" or "expired", $"{path} should have failed");
            }
            catch (MultiArchException ex)
            {
                Assert.IsTrue(path is "wrong" or "realm", ex.ToString());
                texts.Add(ex.ToString());
            }
        }

        var secrets = SecretScan.FormsOf(password, server.Username!).Concat(SecretScan.Plain("an issued token", server.TokenServer?.IssuedTokens ?? [])).ToList();
        var parts = texts.Select((t, i) => new ScannedPart($"exception {i + 1}", System.Text.Encoding.UTF8.GetBytes(t)))
            .Append(new ScannedPart("the client's log, every level", System.Text.Encoding.UTF8.GetBytes(string.Join('\n', log.Lines))));
        var findings = SecretScan.Find(parts, secrets);
        Assert.IsEmpty(findings, string.Join("; ", findings));
        Assert.IsTrue(log.Lines.Any(l => l.Contains("MultiArch: ", StringComparison.Ordinal)), "the client logged its requests");
    }

    // ---------------------------------------------------------------- helpers

    private async Task<(RegistryServer Server, string Repository, TestImage Image)> SeedTokenRegistryAsync(string name)
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository(name);
        var image = TestImages.Image(TestImages.LinuxAmd64, name);
        await SkopeoPusher.PushAsync(server, repository, "1", image, Cancel);
        return (server, repository, image);
    }

    private async Task<(RegistryServer Server, string Repository, TestImage Image)> SeedBasicRegistryAsync(string name)
    {
        var server = await TestRegistries.Basic;
        var repository = TestNames.Repository(name);
        var image = TestImages.Image(TestImages.LinuxAmd64, name);
        await SkopeoPusher.PushAsync(server, repository, "1", image, Cancel);
        return (server, repository, image);
    }

    /// <summary>
    /// Another origin in front of the same registry, like a storage service with pre-signed URLs: it needs no credentials
    /// from the client, because it adds the registry's own (for <paramref name="repository"/>, pull and push).
    /// </summary>
    private async Task<FaultProxy> StorageAsync(RegistryServer server, string repository = "any")
    {
        var storage = await ProxyAsync(server);
        storage.When(_ => true, FaultAction.Custom("pre-signed: the proxy authenticates", async context =>
        {
            var auth = await server.GetAuthorizationAsync(context.Request.Repository ?? repository, "pull,push", context.Aborted);
            await context.RelayAsync(await context.SendUpstreamAsync(adjust: message => message.Headers.Authorization = auth));
        }));
        return storage;
    }

    /// <summary>An HTTPS registry on the default port, scripted: Basic challenges, uploads handed out at <see cref="UploadLocation"/>.</summary>
    private sealed class ScriptedRegistry(string host, int port = 443) : ScriptedRegistryHandler
    {
        public string UploadLocation { get; set; } = string.Empty;

        protected override void Answer(HttpRequestMessage request, Uri uri, HttpResponseMessage response)
        {
            if (uri.Host != host)
            {
                return;
            }

            if (request.Headers.Authorization is null && uri.Port == port)
            {
                response.StatusCode = HttpStatusCode.Unauthorized;
                response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Basic", "realm=\"scripted\""));
            }
            else if (request.Method == HttpMethod.Post)
            {
                response.StatusCode = HttpStatusCode.Accepted;
                response.Headers.Location = new Uri(UploadLocation);
            }
            else if (request.Method == HttpMethod.Put)
            {
                response.StatusCode = HttpStatusCode.Created;
            }
        }
    }
}
