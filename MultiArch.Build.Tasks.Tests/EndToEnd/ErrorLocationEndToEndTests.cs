using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// A manifest spec error, as MSBuild prints it: located at the spec's file, line and column (where IDE and CI
/// annotations point), not at the package's targets file, and with the location said once.
/// </summary>
[TestClass]
public sealed class ErrorLocationEndToEndTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task SpecError_IsLocatedInTheSpec()
    {
        var project = await TestProject.CreateAsync("spec-location", cancellationToken: TestContext.CancellationToken);
        var spec = Path.Combine(project.Directory, "spec.yaml");
        await File.WriteAllTextAsync(spec, "image: registry.test/app:1\nmanifests:\n  - image: registry.test/app:amd64\n    platfrom: {os: linux}\n", TestContext.CancellationToken);

        var result = await project.MSBuildAsync("PushContainerManifestList", new() { ["ContainerManifestSpec"] = "spec.yaml" }, cancellationToken: TestContext.CancellationToken);

        result.ShouldFailWith("MULTIARCH3003")
            .ShouldContain($"{spec}(4,5): error MULTIARCH3003: unknown key 'platfrom'")
            .ShouldNotContain("MultiArch.Build.Tasks.targets(", "the package's targets as the location")
            .ShouldNotContain("spec.yaml(4,5): unknown key", "the location repeated in the text");
    }
}
