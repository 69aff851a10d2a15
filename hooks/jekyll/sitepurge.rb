# frozen_string_literal: true

# sitepurge.rb: a Jekyll plugin that runs `sitepurge run <destination>` after every build, so
# the pages the build changed are purged from Cloudflare.
#
# Use it only when Jekyll writes straight into the folder the web server serves. If the build is
# deployed afterwards (rsync, a CI upload...), purging right after the build re-caches the old
# pages still being served: run sitepurge after the deploy instead (hooks/post-build.sh).
#
# Install: copy this file into the site's _plugins/ folder, then in _config.yml:
#
#   sitepurge:
#     enabled: true
#
# Settings (all optional but `enabled`), under `sitepurge:` in _config.yml:
#   enabled:    false   run at all (set it in a production-only config file, e.g.
#                       `jekyll build --config _config.yml,_config.production.yml`)
#   serve:      false   also run during `jekyll serve` (which rewrites `url` to localhost)
#   command:    the sitepurge binary (default: $SITEPURGE_BIN, else `sitepurge` on the PATH)
#   config:     sitepurge config file, relative to the site's source folder (--config)
#   state:      state file, relative to the site's source folder (--state); default
#               .sitepurge/state.json there (Jekyll does not publish dot folders)
#   base_urls:  list of public base URLs (--base-url); default: url + baseurl, unless
#               `config`, a sitepurge.toml in the source folder or $SITEPURGE_BASE_URL say
#   args:       list of more `sitepurge run` arguments, e.g. ["--zone", "<zone id>"]
#   fail_build: true    make `jekyll build` fail (exit 1) when sitepurge fails
#
# The API token comes from the environment (CLOUDFLARE_API_TOKEN) or from sitepurge's
# token_file, never from _config.yml: a `sitepurge:` key that looks like a secret is refused.
# sitepurge runs in the site's source folder; its summary and errors go to Jekyll's log.

require "open3"
require "shellwords"

module SitePurge
  TOPIC = "sitepurge:"
  KEYS = %w(enabled serve command config state base_urls args fail_build).freeze

  class Error < StandardError; end

  module_function

  # Stops the build with a one-line message: no backtrace, the error is not in Ruby code.
  def fail!(message)
    raise Error, message, ["sitepurge"]
  end

  def settings(site)
    raw = site.config["sitepurge"]
    return {} if raw.nil?
    fail!("the sitepurge: setting in _config.yml must be a mapping") unless raw.is_a?(Hash)

    raw.each_key do |key|
      if key.to_s =~ /token|secret|password|api_key|apikey/i
        fail!("sitepurge.#{key}: never put credentials in _config.yml; " \
              "set CLOUDFLARE_API_TOKEN in the environment or token_file in sitepurge.toml")
      end
      unless KEYS.include?(key.to_s)
        fail!("unknown setting sitepurge.#{key} in _config.yml (known: #{KEYS.join(', ')})")
      end
    end
    raw
  end

  def list(value, key)
    case value
    when nil then []
    when String then Shellwords.split(value)
    when Array then value.map(&:to_s)
    else fail!("sitepurge.#{key} must be a list")
    end
  end

  def command(site, opts)
    source = site.source
    bin = (opts["command"] || ENV["SITEPURGE_BIN"] || "sitepurge").to_s
    argv = [bin, "run", site.dest]
    argv.push("--config", File.expand_path(opts["config"].to_s, source)) if opts["config"]
    argv.push("--state", File.expand_path(opts["state"].to_s, source)) if opts["state"]
    base_urls(site, opts).each { |url| argv.push("--base-url", url) }
    argv.concat(list(opts["args"], "args"))
  end

  def base_urls(site, opts)
    return list(opts["base_urls"], "base_urls") if opts.key?("base_urls")
    return [] if opts["config"] || File.exist?(File.join(site.source, "sitepurge.toml"))
    return [] unless ENV["SITEPURGE_BASE_URL"].to_s.empty?
    # `jekyll serve` replaces url with http://localhost:4000: never purge that.
    return [] if site.config["serving"]

    url = site.config["url"].to_s
    return [] if url.empty?

    ["#{url.chomp('/')}#{site.config['baseurl']}".chomp("/") + "/"]
  end

  def run(site)
    opts = settings(site)
    return unless opts["enabled"] == true

    if site.config["serving"] && opts["serve"] != true
      Jekyll.logger.info TOPIC, "not run during jekyll serve (set sitepurge.serve: true to run it)"
      return
    end

    argv = command(site, opts)
    Jekyll.logger.debug TOPIC, argv.shelljoin
    begin
      out, err, status = Open3.capture3(*argv, chdir: site.source)
    rescue SystemCallError => e
      problem = e.message
    end
    if problem
      fail_or_log(opts, "cannot run #{argv.first}: #{problem} " \
                        "(install sitepurge, or set sitepurge.command or SITEPURGE_BIN)")
      return
    end
    out.each_line { |line| Jekyll.logger.info TOPIC, line.chomp }
    if status.success?
      err.each_line { |line| Jekyll.logger.warn TOPIC, line.chomp }
    else
      err.each_line { |line| Jekyll.logger.error TOPIC, line.chomp }
      code = status.exitstatus || "signal #{status.termsig}"
      fail_or_log(opts, "failed (exit #{code}); URLs not purged stay pending for the next build")
    end
  end

  def fail_or_log(opts, message)
    fail!(message) unless opts["fail_build"] == false

    Jekyll.logger.error TOPIC, message
  end
end

Jekyll::Hooks.register :site, :post_write do |site|
  SitePurge.run(site)
end
