using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// <c>dotnet msbuild -t:PushContainerManifestList</c> from a manifest-tool YAML spec, on a project that consumes the packed
/// package. The spec reader needs YamlDotNet, so this also proves the task folder's <c>.deps.json</c> lets .NET's MSBuild
/// load it next to the task.
/// </summary>
[TestClass]
public sealed class PushEndToEndTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task YamlSpecStitchesPerPlatformImagesIntoAnIndexUnderEveryTag()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-push-spec");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "e2e-push")).ToList();
        var project = TestProject.CreateAsync("push-spec", cancellationToken: TestContext.CancellationToken);
        await Task.WhenAll(images.Select(image => SkopeoPusher.PushAsync(registry, repository, Tag(image.Platform), image, TestContext.CancellationToken)));
        var spec = Path.Combine((await project).Directory, "manifest.yaml");
        await File.WriteAllTextAsync(spec, $"""
            image: {registry.Reference(repository, "2.0")}
            tags: ["2", "latest"]
            manifests:
              - image: {registry.Reference(repository, Tag(TestImages.LinuxAmd64))}
                platform: {"{"} os: linux, architecture: amd64 {"}"}
              - image: {registry.Reference(repository, Tag(TestImages.LinuxArm64))}
                platform: {"{"} os: linux, architecture: arm64, variant: v8 {"}"}
              - image: {registry.Reference(repository, Tag(TestImages.LinuxArmV7))}
                platform: {"{"} os: linux, architecture: arm, variant: v7 {"}"}

            """, TestContext.CancellationToken);
        var digestFile = Path.Combine((await project).Directory, "pushed.digest");

        var result = await (await project).MSBuildAsync(
            "PushContainerManifestList",
            new() { ["ContainerManifestSpec"] = spec, ["ContainerManifestDigestFile"] = digestFile },
            TestProject.RegistryEnvironment(registry),
            cancellationToken: TestContext.CancellationToken);

        result.ShouldSucceed()
            .ShouldContain($"Pushed {registry.Reference(repository, "2.0")}@sha256:")
            .ShouldContain("(3 platforms: linux/amd64, linux/arm64/v8, linux/arm/v7)");
        var digest = Digest.Parse((await File.ReadAllTextAsync(digestFile, TestContext.CancellationToken)).Trim());
        foreach (var tag in new[] { "2.0", "2", "latest" })
        {
            var bytes = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, tag), cancellationToken: TestContext.CancellationToken);
            Assert.AreEqual(digest, Digest.FromContent(bytes), $"{tag} points elsewhere");
        }

        var raw = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, digest.ToString()), cancellationToken: TestContext.CancellationToken);
        var index = (ImageIndex)ManifestContent.Parse(raw, contentType: null, "the pushed index");
        CollectionAssert.AreEqual(images.Select(i => i.Digest).ToList(), index.Manifests.Select(m => m.Digest).ToList());
    }

    private static string Tag(Platform platform) => "1.0-" + platform.ToString().Replace('/', '-');
}
