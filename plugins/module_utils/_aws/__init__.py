# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS in one place: errors, clients of the AWS modules, and the S3 repository's session.

errors: botocore's exception classes and their translation into errors that
name the IAM permissions to grant; clients: the clients of the modules built
on AnsibleAWSModule, with the project's retry policy; session: the boto3
session and client of an s3:// repository (and of the report upload), with
the amazon.aws connection options and botocore's standard retry mode.
"""
