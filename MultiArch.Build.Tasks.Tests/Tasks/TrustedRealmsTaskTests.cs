using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// The <c>TrustedRealms</c> parameter (<c>ContainerRegistryTrustedRealms</c>): a token service on another host gets
/// the credentials only when listed there.
/// </summary>
[TestClass]
public sealed class TrustedRealmsTaskTests
{
    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    public async Task TokenServiceOnAnotherHost_GetsTheCredentialsOnlyWhenListed()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("task-trusted-realm");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "realm")));
        await using var proxy = await FaultProxy.StartAsync(server, Cancel);
        await using var tokens = await ReliabilityKit.ProxyTokenServiceAsync(proxy, host: "localhost", Cancel);

        var (refused, refusedEngine) = await PushAsync(proxy, repository, "refused", trustedRealms: null);
        var refusedRequests = tokens.Exchanges.Count;
        var (trusted, trustedEngine) = await PushAsync(proxy, repository, "trusted", trustedRealms: $"other.example;localhost:{tokens.Port}");

        Assert.IsFalse(refused);
        Assert.AreEqual("MULTIARCH1012", refusedEngine.Errors.Single().Code, refusedEngine.AllText);
        Assert.IsTrue(tokens.Exchanges.Take(refusedRequests).All(e => !e.Request.Headers.ContainsKey("Authorization")), "no credentials before the realm was listed\n" + tokens.Transcript());
        Assert.IsTrue(trusted, trustedEngine.AllText);
        Assert.IsTrue(tokens.Exchanges.Skip(refusedRequests).Any(e => e.Request.Headers.ContainsKey("Authorization")), tokens.Transcript());
        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "refused", Cancel));
        Assert.IsNotNull(await RegistryContent.ResolveAsync(server, repository, "trusted", Cancel));
    }

    [TestMethod]
    public async Task HttpsTokenServiceOnASiblingHost_GetsTheCredentialsByDefault_AndNotWithStrict()
    {
        // registry.gitlab.com → gitlab.com: an HTTPS registry names an HTTPS token service on another host name.
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("task-sibling-realm");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "sibling")));
        await using var proxy = await FaultProxy.StartHttpsAsync(server, Cancel);
        await using var tokens = await FaultProxy.StartHttpsAsync(new Uri(server.TokenServer!.Realm.GetLeftPart(UriPartial.Authority)), cancellationToken: Cancel);
        proxy.RealmRewrite = _ => $"https://localhost:{tokens.Port}/token";

        var (byDefault, defaultEngine) = await PushAsync(proxy, repository, "default", trustedRealms: null, https: tokens);
        var mark = tokens.Mark;
        var (strict, strictEngine) = await PushAsync(proxy, repository, "strict", trustedRealms: "strict", https: tokens);

        Assert.IsTrue(byDefault, defaultEngine.AllText);
        Assert.IsFalse(strict);
        Assert.AreEqual("MULTIARCH1012", strictEngine.Errors.Single().Code, strictEngine.AllText);
        Assert.IsTrue(tokens.ExchangesSince(mark).All(e => !e.Request.Headers.ContainsKey("Authorization")), "strict: no credentials to the sibling host\n" + tokens.Transcript());
        Assert.IsNotNull(await RegistryContent.ResolveAsync(server, repository, "default", Cancel));
    }

    private static async Task<(bool Result, FakeBuildEngine Engine)> PushAsync(FaultProxy proxy, string repository, string tag, string? trustedRealms, FaultProxy? https = null)
    {
        var engine = new FakeBuildEngine();
        var environment = TestClients.Environment(proxy);
        if (https is not null)
        {
            environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        }

        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(environment),
            TransportFactory = https is null ? null : () => FaultProxy.CreateTrustingHandler(proxy, https),
            Platforms = "linux/amd64",
            Template = proxy.Reference(repository, "ARCH"),
            Target = proxy.Reference(repository, tag),
            TrustedRealms = trustedRealms,
        };
        return (await Task.Run(task.Execute), engine);
    }
}
